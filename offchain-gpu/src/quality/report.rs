//! Text outputs: the per-round CSV and the Markdown summary table.

use std::fmt::Write;
use std::time::Duration;

use super::config::QualityConfig;
use super::curve::{Curve, Method};

/// The CSV header.
pub const CSV_HEADER: &str = "method,round,tokens,heldout_loss,bytes_sent_cumulative";

/// One row per evaluation: `method,round,tokens,heldout_loss,bytes_sent_cumulative` (bytes
/// sent by one replica).
pub fn csv(curves: &[Curve]) -> String {
	let mut out = format!("{CSV_HEADER}\n");
	for c in curves {
		for p in &c.points {
			// Writing to a String cannot fail.
			let _ = writeln!(
				out,
				"{},{},{},{:.6},{}",
				c.method, p.round, p.tokens, p.heldout_loss, p.bytes_sent
			);
		}
	}
	out
}

/// Final figures of one method, relative to the others.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
	pub method: Method,
	pub final_loss: f32,
	/// `(loss - loss_DiLoCo) / loss_DiLoCo`.
	pub gap_vs_diloco: Option<f64>,
	pub bytes_sent: u64,
	/// DiLoCo's bytes divided by this method's.
	pub fewer_than_diloco: Option<f64>,
	/// AdamW's bytes divided by this method's.
	pub fewer_than_adamw: Option<f64>,
	pub wall: Duration,
}

/// Rows for every curve with at least one point.
pub fn summary_rows(curves: &[Curve]) -> Vec<Row> {
	let last = |m: Method| curves.iter().find(|c| c.method == m).and_then(Curve::last);
	let (diloco, adamw) = (last(Method::DiLoCo), last(Method::AdamW));
	let ratio = |base: u64, bytes: u64| (bytes > 0).then(|| base as f64 / bytes as f64);
	curves
		.iter()
		.filter_map(|c| {
			let p = c.last()?;
			Some(Row {
				method: c.method,
				final_loss: p.heldout_loss,
				gap_vs_diloco: diloco.map(|d| {
					(p.heldout_loss as f64 - d.heldout_loss as f64) / d.heldout_loss as f64
				}),
				bytes_sent: p.bytes_sent,
				fewer_than_diloco: diloco.and_then(|d| ratio(d.bytes_sent, p.bytes_sent)),
				fewer_than_adamw: adamw.and_then(|a| ratio(a.bytes_sent, p.bytes_sent)),
				wall: c.wall,
			})
		})
		.collect()
}

/// The goal: SparseLoCo within 3 % of DiLoCo's final held-out loss with over 100x fewer bytes.
pub const GOAL_GAP: f64 = 0.03;
pub const GOAL_FEWER_BYTES: f64 = 100.0;

/// The Markdown summary: setup, table and the goal check.
pub fn markdown(cfg: &QualityConfig, curves: &[Curve], total_wall: Duration) -> String {
	let rows = summary_rows(curves);
	let mut out = String::new();
	let _ = writeln!(out, "## Training quality: AdamW vs DiLoCo vs SparseLoCo\n");
	let m = &cfg.model;
	let _ = writeln!(
		out,
		"Model: {} parameters (d_model {}, {} layers, vocab {}). R = {} replicas, H = {} inner \
		 steps, {} rounds, {} x {} tokens per replica step, {} training tokens per method. \
		 Inner AdamW peak lr {}; DiLoCo outer Nesterov lr {} momentum {}; SparseLoCo outer SGD \
		 lr {}, error feedback beta {}, top-{} of {}x{} chunks, 2-bit codes. Held-out set: {} \
		 batches. Total wall time {}.\n",
		m.num_params(),
		m.d_model,
		m.n_layers,
		m.vocab_size,
		cfg.replicas,
		cfg.inner_steps,
		cfg.rounds,
		cfg.shape.batch_size,
		cfg.shape.seq_len,
		cfg.rounds * cfg.tokens_per_round(),
		cfg.inner_lr,
		cfg.diloco.lr,
		cfg.diloco.momentum,
		cfg.sparse.outer_lr,
		cfg.sparse.beta,
		cfg.sparse.chunk.k,
		cfg.sparse.chunk.edge,
		cfg.sparse.chunk.edge,
		cfg.eval_batches,
		fmt_duration(total_wall),
	);
	let _ = writeln!(
		out,
		"| method | final held-out loss | vs DiLoCo | bytes sent per replica | DiLoCo bytes / \
		 bytes | AdamW bytes / bytes | wall time |"
	);
	let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
	for r in &rows {
		let _ = writeln!(
			out,
			"| {} | {:.4} | {} | {} | {} | {} | {} |",
			r.method,
			r.final_loss,
			r.gap_vs_diloco.map_or("-".into(), |g| format!("{:+.2} %", 100.0 * g)),
			fmt_bytes(r.bytes_sent),
			r.fewer_than_diloco.map_or("-".into(), fmt_ratio),
			r.fewer_than_adamw.map_or("-".into(), fmt_ratio),
			fmt_duration(r.wall),
		);
	}
	if let Some(s) = rows.iter().find(|r| r.method == Method::SparseLoCo) {
		if let (Some(gap), Some(fewer)) = (s.gap_vs_diloco, s.fewer_than_diloco) {
			let met = gap <= GOAL_GAP && fewer > GOAL_FEWER_BYTES;
			let _ = writeln!(
				out,
				"\nGoal (SparseLoCo within {:.0} % of DiLoCo's held-out loss with over {:.0}x fewer \
				 bytes): {} (gap {:+.2} %, {:.1}x fewer bytes).",
				100.0 * GOAL_GAP,
				GOAL_FEWER_BYTES,
				if met { "met" } else { "not met" },
				100.0 * gap,
				fewer
			);
		}
	}
	out
}

/// `1234567` as `1.23 MB` (decimal units).
pub fn fmt_bytes(bytes: u64) -> String {
	const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
	let mut value = bytes as f64;
	let mut unit = 0;
	while value >= 1000.0 && unit + 1 < UNITS.len() {
		value /= 1000.0;
		unit += 1;
	}
	if unit == 0 {
		format!("{bytes} B")
	} else {
		format!("{value:.2} {}", UNITS[unit])
	}
}

/// `200.5x`; ratios below one keep three significant digits (`0.0333x`).
fn fmt_ratio(x: f64) -> String {
	if x > 0.0 && x < 1.0 {
		let decimals = (2.0 - x.log10().floor()) as usize;
		format!("{x:.decimals$}x")
	} else {
		format!("{x:.1}x")
	}
}

fn fmt_duration(d: Duration) -> String {
	let s = d.as_secs_f64();
	if s < 60.0 {
		format!("{s:.1} s")
	} else {
		format!("{:.0} min {:02.0} s", (s / 60.0).floor(), s % 60.0)
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::quality::curve::Point;
	use training_model::ModelConfig;

	pub(crate) fn curves() -> Vec<Curve> {
		let curve = |method, losses: &[f32], bytes_per_round: u64| Curve {
			method,
			points: losses
				.iter()
				.enumerate()
				.map(|(r, &l)| Point {
					round: r as u64,
					tokens: 1000 * r as u64,
					heldout_loss: l,
					bytes_sent: bytes_per_round * r as u64,
				})
				.collect(),
			wall: Duration::from_secs(75),
		};
		vec![
			curve(Method::AdamW, &[5.5, 3.0, 2.0], 40_000),
			curve(Method::DiLoCo, &[5.5, 3.2, 2.5], 4_000),
			curve(Method::SparseLoCo, &[5.5, 3.3, 2.55], 20),
		]
	}

	#[test]
	fn csv_has_a_header_and_one_row_per_point() {
		let text = csv(&curves());
		let lines: Vec<&str> = text.lines().collect();
		assert_eq!(lines[0], CSV_HEADER);
		assert_eq!(lines.len(), 1 + 9);
		for line in &lines[1..] {
			let fields: Vec<&str> = line.split(',').collect();
			assert_eq!(fields.len(), 5, "{line}");
			assert!(["AdamW", "DiLoCo", "SparseLoCo"].contains(&fields[0]));
			fields[1].parse::<u64>().unwrap();
			fields[2].parse::<u64>().unwrap();
			assert!(fields[3].parse::<f64>().unwrap().is_finite());
			fields[4].parse::<u64>().unwrap();
		}
		assert_eq!(lines[6], "DiLoCo,2,2000,2.500000,8000");
		assert!(text.ends_with('\n'));
	}

	#[test]
	fn summary_compares_against_diloco_and_adamw() {
		let rows = summary_rows(&curves());
		let sparse = &rows[2];
		assert_eq!(sparse.method, Method::SparseLoCo);
		assert!((sparse.gap_vs_diloco.unwrap() - 0.02).abs() < 1e-6);
		assert_eq!(sparse.fewer_than_diloco, Some(200.0));
		assert_eq!(sparse.fewer_than_adamw, Some(2000.0));
		assert_eq!(rows[1].gap_vs_diloco, Some(0.0));
		assert_eq!(rows[0].fewer_than_diloco, Some(0.1));

		let md = markdown(
			&QualityConfig::quick(ModelConfig::small()),
			&curves(),
			Duration::from_secs(200),
		);
		assert!(
			md.contains("| SparseLoCo | 2.5500 | +2.00 % | 40 B | 200.0x | 2000.0x | 1 min 15 s |"),
			"{md}"
		);
		assert!(md.contains("Goal") && md.contains(": met"), "{md}");
		// Header, separator and three rows.
		assert_eq!(md.lines().filter(|l| l.starts_with('|')).count(), 5);
	}

	#[test]
	fn goal_is_not_met_when_the_gap_is_too_large() {
		let mut c = curves();
		c[2].points.last_mut().unwrap().heldout_loss = 2.7;
		let md = markdown(&QualityConfig::quick(ModelConfig::small()), &c, Duration::ZERO);
		assert!(md.contains("not met"), "{md}");
	}

	#[test]
	fn formats_bytes_and_durations() {
		assert_eq!(fmt_bytes(999), "999 B");
		assert_eq!(fmt_bytes(1_234_567), "1.23 MB");
		assert_eq!(fmt_duration(Duration::from_millis(1500)), "1.5 s");
		assert_eq!(fmt_duration(Duration::from_secs(605)), "10 min 05 s");
		assert_eq!(fmt_ratio(200.54), "200.5x");
		assert_eq!(fmt_ratio(1.0 / 30.0), "0.0333x");
		assert_eq!(fmt_ratio(0.1), "0.100x");
	}
}
