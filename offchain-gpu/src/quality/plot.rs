//! A hand-written SVG line chart of held-out loss against training tokens: axes with
//! "nice" ticks (1, 2 or 5 times a power of ten), one polyline per method, a legend.

use std::fmt::Write;

use super::curve::{Curve, Method};

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 460.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 44.0;
const BOTTOM: f64 = 58.0;

fn color(method: Method) -> &'static str {
	match method {
		Method::AdamW => "#1f77b4",
		Method::DiLoCo => "#ff7f0e",
		Method::SparseLoCo => "#2ca02c",
	}
}

/// An axis: the data range widened to whole ticks.
#[derive(Clone, Debug, PartialEq)]
struct Axis {
	lo: f64,
	hi: f64,
	step: f64,
}

impl Axis {
	/// About `target` ticks covering `[lo, hi]`; a degenerate range is widened to one unit.
	fn new(lo: f64, hi: f64, target: usize) -> Self {
		let (lo, hi) = if hi > lo { (lo, hi) } else { (lo - 0.5, lo + 0.5) };
		let step = nice_step((hi - lo) / target.max(1) as f64);
		Self { lo: (lo / step).floor() * step, hi: (hi / step).ceil() * step, step }
	}

	fn ticks(&self) -> Vec<f64> {
		let n = ((self.hi - self.lo) / self.step).round() as usize;
		(0..=n).map(|i| self.lo + i as f64 * self.step).collect()
	}

	/// Maps `v` to `[from, to]`.
	fn map(&self, v: f64, from: f64, to: f64) -> f64 {
		from + (v - self.lo) / (self.hi - self.lo) * (to - from)
	}
}

/// The smallest 1, 2 or 5 times a power of ten that is at least `raw`.
fn nice_step(raw: f64) -> f64 {
	let pow = 10f64.powf(raw.log10().floor());
	[1.0, 2.0, 5.0, 10.0]
		.into_iter()
		.map(|m| m * pow)
		.find(|&s| s >= raw * (1.0 - 1e-9))
		.unwrap_or(10.0 * pow)
}

/// Token counts as `0`, `500k`, `1.2M`.
fn fmt_tokens(v: f64) -> String {
	let trim = |s: String| s.trim_end_matches('0').trim_end_matches('.').to_owned();
	if v.abs() >= 1e6 {
		format!("{}M", trim(format!("{:.2}", v / 1e6)))
	} else if v.abs() >= 1e3 {
		format!("{}k", trim(format!("{:.1}", v / 1e3)))
	} else {
		format!("{v:.0}")
	}
}

/// Loss tick labels with as many decimals as the step needs.
fn fmt_loss(v: f64, step: f64) -> String {
	let decimals = (-step.log10().floor()).max(0.0) as usize;
	format!("{v:.decimals$}")
}

/// The chart as a standalone SVG document.
pub fn svg(curves: &[Curve]) -> String {
	let points = || curves.iter().flat_map(|c| &c.points);
	let fold = |f: fn(f64, f64) -> f64, init: f64, get: fn(&super::curve::Point) -> f64| {
		points().map(get).filter(|v| v.is_finite()).fold(init, f)
	};
	let max_tokens = fold(f64::max, 0.0, |p| p.tokens as f64);
	let (min_loss, max_loss) = (
		fold(f64::min, f64::INFINITY, |p| p.heldout_loss as f64),
		fold(f64::max, f64::NEG_INFINITY, |p| p.heldout_loss as f64),
	);
	let (min_loss, max_loss) = if min_loss <= max_loss { (min_loss, max_loss) } else { (0.0, 1.0) };
	let x = Axis::new(0.0, max_tokens.max(1.0), 6);
	let y = Axis::new(min_loss, max_loss, 6);
	let (x0, x1, y0, y1) = (LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, TOP);

	let mut s = String::new();
	let _ = writeln!(
		s,
		r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
	);
	let _ = writeln!(s, r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#);
	let _ = writeln!(
		s,
		r#"<text x="{}" y="24" text-anchor="middle" font-size="15">Held-out loss vs training tokens</text>"#,
		WIDTH / 2.0
	);

	// Grid, ticks and labels.
	let _ = writeln!(s, r##"<g stroke="#ddd" stroke-width="1">"##);
	for t in x.ticks() {
		let px = x.map(t, x0, x1);
		let _ = writeln!(s, r#"<line x1="{px:.1}" y1="{y0:.1}" x2="{px:.1}" y2="{y1:.1}"/>"#);
	}
	for t in y.ticks() {
		let py = y.map(t, y0, y1);
		let _ = writeln!(s, r#"<line x1="{x0:.1}" y1="{py:.1}" x2="{x1:.1}" y2="{py:.1}"/>"#);
	}
	let _ = writeln!(s, "</g>");
	let _ = writeln!(s, r#"<g fill="black">"#);
	for t in x.ticks() {
		let px = x.map(t, x0, x1);
		let _ = writeln!(
			s,
			r#"<text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
			y0 + 18.0,
			fmt_tokens(t)
		);
	}
	for t in y.ticks() {
		let py = y.map(t, y0, y1);
		let _ = writeln!(
			s,
			r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
			x0 - 8.0,
			py + 4.0,
			fmt_loss(t, y.step)
		);
	}
	let _ = writeln!(
		s,
		r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">training tokens</text>"#,
		(x0 + x1) / 2.0,
		HEIGHT - 16.0
	);
	let _ = writeln!(
		s,
		r#"<text x="18" y="{:.1}" text-anchor="middle" transform="rotate(-90 18 {:.1})">held-out loss (nats/token)</text>"#,
		(y0 + y1) / 2.0,
		(y0 + y1) / 2.0
	);
	let _ = writeln!(s, "</g>");
	let _ = writeln!(
		s,
		r#"<rect x="{x0}" y="{y1}" width="{:.1}" height="{:.1}" fill="none" stroke="black"/>"#,
		x1 - x0,
		y0 - y1
	);

	// Curves.
	for c in curves {
		let coords: Vec<String> = c
			.points
			.iter()
			.filter(|p| p.heldout_loss.is_finite())
			.map(|p| {
				format!(
					"{:.1},{:.1}",
					x.map(p.tokens as f64, x0, x1),
					y.map(p.heldout_loss as f64, y0, y1)
				)
			})
			.collect();
		let _ = writeln!(
			s,
			r#"<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>"#,
			color(c.method),
			coords.join(" ")
		);
	}

	// Legend, top right.
	let (lx, ly) = (x1 - 150.0, y1 + 12.0);
	let _ = writeln!(
		s,
		r##"<rect x="{lx:.1}" y="{ly:.1}" width="138" height="{:.1}" fill="white" stroke="#999"/>"##,
		8.0 + 20.0 * curves.len() as f64
	);
	for (i, c) in curves.iter().enumerate() {
		let cy = ly + 16.0 + 20.0 * i as f64;
		let _ = writeln!(
			s,
			r#"<line x1="{:.1}" y1="{cy:.1}" x2="{:.1}" y2="{cy:.1}" stroke="{}" stroke-width="3"/>"#,
			lx + 10.0,
			lx + 36.0,
			color(c.method)
		);
		let _ =
			writeln!(s, r#"<text x="{:.1}" y="{:.1}">{}</text>"#, lx + 44.0, cy + 4.0, c.method);
	}
	let _ = writeln!(s, "</svg>");
	s
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::quality::curve::Point;
	use std::time::Duration;

	fn curve(method: Method, losses: &[f32]) -> Curve {
		Curve {
			method,
			points: losses
				.iter()
				.enumerate()
				.map(|(r, &l)| Point {
					round: r as u64,
					tokens: 61_440 * r as u64,
					heldout_loss: l,
					bytes_sent: 0,
				})
				.collect(),
			wall: Duration::ZERO,
		}
	}

	/// Every `<tag` opens an element that is either self-closed or closed by `</tag>`.
	fn assert_balanced(svg: &str, tag: &str) {
		let opened =
			svg.matches(&format!("<{tag} ")).count() + svg.matches(&format!("<{tag}>")).count();
		let closed = svg.matches(&format!("</{tag}>")).count();
		let self_closed = svg
			.split(&format!("<{tag} "))
			.skip(1)
			.filter(|rest| rest.split('>').next().is_some_and(|head| head.ends_with('/')))
			.count();
		assert_eq!(opened, closed + self_closed, "<{tag}> is not balanced");
	}

	fn numbers(attr: &str, svg: &str) -> Vec<f64> {
		svg.split(&format!(" {attr}=\""))
			.skip(1)
			.flat_map(|rest| {
				rest.split('"')
					.next()
					.unwrap()
					.split([' ', ','])
					.map(|v| v.parse::<f64>().unwrap())
					.collect::<Vec<_>>()
			})
			.collect()
	}

	#[test]
	fn draws_one_polyline_per_curve_inside_the_canvas() {
		let curves = vec![
			curve(Method::AdamW, &[5.6, 3.1, 2.4, 2.1]),
			curve(Method::DiLoCo, &[5.6, 3.3, 2.5, 2.2]),
			curve(Method::SparseLoCo, &[5.6, 3.4, 2.6, 2.25]),
		];
		let svg = svg(&curves);
		assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
		assert!(svg.trim_end().ends_with("</svg>"));
		for tag in ["svg", "g", "text", "line", "rect", "polyline"] {
			assert_balanced(&svg, tag);
		}
		assert_eq!(svg.matches("<polyline").count(), 3);
		for name in ["AdamW", "DiLoCo", "SparseLoCo"] {
			assert!(svg.contains(&format!(">{name}</text>")), "legend lacks {name}");
		}
		let coords = numbers("points", &svg);
		assert_eq!(coords.len(), 3 * 4 * 2);
		for pair in coords.chunks(2) {
			assert!((LEFT..=WIDTH - RIGHT).contains(&pair[0]), "{pair:?}");
			assert!((TOP..=HEIGHT - BOTTOM).contains(&pair[1]), "{pair:?}");
		}
		// y grows downwards in SVG: the first curve's falling loss ends lower on the canvas.
		assert!(coords[7] > coords[1]);
		assert!(!svg.contains("NaN") && !svg.contains("inf"));
		assert!(svg.contains(">200k</text>") && svg.contains(">50k</text>"), "{svg}");
	}

	#[test]
	fn degenerate_inputs_still_give_a_valid_document() {
		for curves in [
			vec![],
			vec![curve(Method::DiLoCo, &[2.0])],
			vec![curve(Method::AdamW, &[f32::NAN, 3.0])],
		] {
			let svg = svg(&curves);
			assert!(svg.trim_end().ends_with("</svg>"));
			assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
			for tag in ["svg", "g", "text", "polyline"] {
				assert_balanced(&svg, tag);
			}
		}
	}

	#[test]
	fn ticks_are_round_numbers_covering_the_data() {
		assert_eq!(nice_step(0.7), 1.0);
		assert_eq!(nice_step(0.13), 0.2);
		assert_eq!(nice_step(3000.0), 5000.0);
		let axis = Axis::new(2.13, 5.61, 6);
		assert_eq!(axis.step, 1.0);
		assert_eq!(axis.ticks(), vec![2.0, 3.0, 4.0, 5.0, 6.0]);
		assert_eq!(fmt_tokens(1_200_000.0), "1.2M");
		assert_eq!(fmt_tokens(500_000.0), "500k");
		assert_eq!(fmt_tokens(0.0), "0");
		assert_eq!(fmt_loss(2.5, 0.5), "2.5");
		assert_eq!(fmt_loss(3.0, 1.0), "3");
	}
}
