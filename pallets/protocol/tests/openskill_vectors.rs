//! The fixed-point Plackett-Luce update against vectors from the reference Python package
//! (`scripts/generate_vectors.py`, openskill 6.2.0): every player's new `mu` and `sigma` must
//! match to 1e-6 relative (measured against `max(|x|, 1)`, since `mu` may sit near zero).

use serde_json::Value;
use training_protocol::{rate, Fixed, OpenSkillParams, Rating};

const VECTORS: &str = include_str!("vectors/plackett_luce.json");

fn fixed(x: f64) -> Fixed {
	Fixed::from_raw((x * 1e18).round() as i128)
}

fn float(x: Fixed) -> f64 {
	x.into_raw() as f64 / 1e18
}

fn num(v: &Value) -> f64 {
	v.as_f64().expect("number")
}

#[test]
fn plackett_luce_matches_openskill() {
	let doc: Value = serde_json::from_str(VECTORS).expect("valid JSON");
	assert_eq!(doc["library"], "openskill 6.2.0");
	let p = &doc["params"];
	let params = OpenSkillParams {
		mu0: fixed(num(&p["mu"])),
		sigma0: fixed(num(&p["sigma"])),
		beta: fixed(num(&p["beta"])),
		tau: fixed(num(&p["tau"])),
		kappa: fixed(num(&p["kappa"])),
	};
	// The protocol's defaults are the parameters the vectors were made with.
	// (Up to the float rounding of 25/3, 0.1 and 1e-4.)
	let defaults = OpenSkillParams::default();
	let pairs = [
		(params.mu0, defaults.mu0),
		(params.sigma0, defaults.sigma0),
		(params.beta, defaults.beta),
		(params.tau, defaults.tau),
		(params.kappa, defaults.kappa),
	];
	for (from_file, default) in pairs {
		assert!(
			(from_file.into_raw() - default.into_raw()).abs() < 10_000,
			"{from_file} vs {default}"
		);
	}

	let rounds = doc["rounds"].as_array().expect("rounds");
	assert!(rounds.len() >= 300);
	let (mut worst, mut players) = (0.0f64, 0usize);
	for (index, round) in rounds.iter().enumerate() {
		let round = round.as_array().expect("round");
		let game: Vec<(Rating, u32)> = round
			.iter()
			.map(|p| {
				(
					Rating::new(fixed(num(&p[0])), fixed(num(&p[1]))),
					p[2].as_u64().expect("rank") as u32,
				)
			})
			.collect();
		let rated = rate(&params, &game).unwrap_or_else(|e| panic!("round {index}: {e:?}"));
		for (p, got) in round.iter().zip(&rated) {
			for (got, want) in [(got.mu, num(&p[3])), (got.sigma, num(&p[4]))] {
				let err = (float(got) - want).abs() / want.abs().max(1.0);
				worst = worst.max(err);
				assert!(
					err < 1e-6,
					"round {index} ({} players): got {got}, want {want}",
					round.len()
				);
			}
			players += 1;
		}
	}
	assert!(players > 10_000);
	println!("{} rounds, {players} players, worst relative error {worst:e}", rounds.len());
	// Far tighter than required: the remaining error is the float side's.
	assert!(worst < 1e-12, "worst relative error {worst:e}");
}
