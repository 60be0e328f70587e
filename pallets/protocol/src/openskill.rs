//! OpenSkill's Plackett-Luce rating update in fixed point, one player per team.
//!
//! This reproduces `openskill.models.PlackettLuce.rate(teams, ranks=...)` of the PyPI package
//! `openskill` 6.2.0 (Weng & Lin 2011, algorithm 4) for one-player teams and its default
//! `gamma = sqrt(sigma_i^2) / c`, checked against vectors that package produced
//! (`tests/vectors/`). With `n` players of ranks `r`, after the additive dynamics step
//! `sigma_i <- sqrt(sigma_i^2 + tau^2)`:
//!
//! ```text
//! c     = sqrt(sum_i (sigma_i^2 + beta^2))
//! S_q   = sum_{s : r_s >= r_q} exp(mu_s / c)          (everyone ranked at or below q)
//! p_iq  = exp(mu_i / c) / S_q
//! A_i   = |{s : r_s = r_i}|                            (size of i's tie group)
//! omega = sigma_i^2 / c * (1 / A_i - sum_{q : r_q <= r_i} p_iq / A_q)
//! delta = sigma_i^3 / c^3 * sum_{q : r_q <= r_i} p_iq (1 - p_iq) / A_q
//! mu_i' = mu_i + omega,   sigma_i' = sigma_i * sqrt(max(1 - delta, kappa))
//! ```
//!
//! Summing over the members `q` of a tie group cancels the `1 / A_q`, so each group is visited
//! once. Two facts about the reference worth knowing: a player's own tie-mates count against
//! it in `omega` like better-ranked players (the library compares `q == i`, not ranks), and the
//! library's final "average the mu change over a tie group" step has no effect, because it
//! subtracts the updated objects from themselves. This module matches the library as it runs.
//!
//! To keep every exponential in `[0, 1]` (no overflow, full precision), `S_q` is kept as
//! `exp(m_q / c) * s_q` with `m_q` the largest `mu` among those ranked at or below `q`, so
//! `p_iq = exp((mu_i - m_q) / c) / s_q` with `mu_i <= m_q` and `s_q >= 1`. The update costs
//! one exponential per pair (player, better-or-equal tie group): `O(n * groups)`.

use alloc::vec::Vec;

use crate::fixed::Fixed;

/// A player's skill belief: a Gaussian with mean `mu` and standard deviation `sigma`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
	feature = "codec",
	derive(
		codec::Encode,
		codec::Decode,
		codec::DecodeWithMemTracking,
		codec::MaxEncodedLen,
		scale_info::TypeInfo
	)
)]
pub struct Rating {
	/// Mean skill.
	pub mu: Fixed,
	/// Uncertainty (standard deviation) of the skill.
	pub sigma: Fixed,
}

impl Rating {
	/// A rating from its two parts.
	pub const fn new(mu: Fixed, sigma: Fixed) -> Self {
		Rating { mu, sigma }
	}

	/// The conservative skill estimate `mu - 3 sigma` (OpenSkill's default `ordinal`),
	/// saturating at the ends of the range.
	pub fn ordinal(&self) -> Fixed {
		self.mu.saturating_sub(self.sigma.saturating_mul(Fixed::from_int(3)))
	}
}

/// Model parameters. [`Default`] gives the reference values: `mu0 = 25`, `sigma0 = 25/3`,
/// `beta = 7`, `tau = 0.1`, `kappa = 1e-4` (the library's defaults except `beta`, `25/6`
/// there, and `tau`, `25/300` there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
	feature = "codec",
	derive(
		codec::Encode,
		codec::Decode,
		codec::DecodeWithMemTracking,
		codec::MaxEncodedLen,
		scale_info::TypeInfo
	)
)]
pub struct OpenSkillParams {
	/// Mean of a new player's rating.
	pub mu0: Fixed,
	/// Standard deviation of a new player's rating.
	pub sigma0: Fixed,
	/// Performance noise: how much one game's outcome varies around skill.
	pub beta: Fixed,
	/// Additive dynamics: `sigma` grows by this (in quadrature) before each update so that
	/// ratings keep moving.
	pub tau: Fixed,
	/// Floor of the factor by which one update may shrink `sigma^2`.
	pub kappa: Fixed,
}

impl Default for OpenSkillParams {
	fn default() -> Self {
		OpenSkillParams {
			mu0: Fixed::from_int(25),
			// 25/3 rounded to 18 digits.
			sigma0: Fixed::from_raw(8_333_333_333_333_333_333),
			beta: Fixed::from_int(7),
			tau: Fixed::from_ppm(100_000),
			kappa: Fixed::from_ppm(100),
		}
	}
}

impl OpenSkillParams {
	/// The rating a new player starts with.
	pub fn initial_rating(&self) -> Rating {
		Rating::new(self.mu0, self.sigma0)
	}

	/// Checks that the parameters keep the update well defined: positive `beta` (so `c > 0`),
	/// non-negative `tau`, `kappa` in `(0, 1]`, positive `sigma0`, and `|mu0|`, `sigma0`,
	/// `beta`, `tau` within [`PARAM_LIMIT`], a hundredth of [`RATING_LIMIT`], so that ratings
	/// start far inside the range [`rate`] accepts.
	pub fn validate(&self) -> Result<(), RateError> {
		let in_limit = |x: Fixed| x.saturating_abs() <= PARAM_LIMIT;
		let ok = self.beta.is_positive()
			&& !self.tau.is_negative()
			&& self.kappa.is_positive()
			&& self.kappa <= Fixed::ONE
			&& self.sigma0.is_positive()
			&& [self.mu0, self.sigma0, self.beta, self.tau].into_iter().all(in_limit);
		if ok {
			Ok(())
		} else {
			Err(RateError::InvalidParams)
		}
	}
}

/// Bound on `|mu|`, `sigma` and the parameters accepted by [`rate`] (one million). Ratings
/// move by at most `sigma^2 / c <= sigma` per update, so honest use stays far inside it,
/// and the bound keeps every intermediate value well within [`Fixed`]'s range.
pub const RATING_LIMIT: Fixed = Fixed::from_int(1_000_000);

/// Bound on `|mu0|`, `sigma0`, `beta` and `tau` (ten thousand): parameters near
/// [`RATING_LIMIT`] would start ratings at its edge.
pub const PARAM_LIMIT: Fixed = Fixed::from_int(10_000);

/// The smallest `sigma` [`rate`] returns: one unit of the last fixed-point digit, so that a
/// rating it returns is always a valid input again.
const MIN_SIGMA: Fixed = Fixed::from_raw(1);

/// Why a rating update was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateError {
	/// The parameters fail [`OpenSkillParams::validate`].
	InvalidParams,
	/// A rating has `sigma <= 0`, or `|mu|` or `sigma` above [`RATING_LIMIT`].
	InvalidRating,
	/// An intermediate value left the fixed-point range. Unreachable for valid inputs; kept
	/// so that the code has no panicking path.
	Overflow,
}

/// One Plackett-Luce update for a game of one-player teams.
///
/// `players` holds each player's prior rating and rank; a lower rank is better and equal
/// ranks are ties. Only the order of the ranks matters. Returns the new ratings in input
/// order. An empty game returns an empty vector; a lone player only gets the `tau` step.
///
/// Every returned rating is a valid input again: `mu` is clamped to `±RATING_LIMIT` and
/// `sigma` to `[MIN_SIGMA, RATING_LIMIT]`, so that repeated settlements can never produce a
/// rating the next one refuses (honest use stays many orders of magnitude inside the bounds,
/// where the clamp does nothing).
pub fn rate(params: &OpenSkillParams, players: &[(Rating, u32)]) -> Result<Vec<Rating>, RateError> {
	params.validate()?;
	let valid = |r: &Rating| {
		r.sigma.is_positive() && r.sigma <= RATING_LIMIT && r.mu.saturating_abs() <= RATING_LIMIT
	};
	if !players.iter().all(|(r, _)| valid(r)) {
		return Err(RateError::InvalidRating);
	}
	let ovf = RateError::Overflow;
	let tau_sq = params.tau.checked_mul(params.tau).ok_or(ovf)?;
	let beta_sq = params.beta.checked_mul(params.beta).ok_or(ovf)?;

	// Additive dynamics, then c = sqrt(sum (sigma^2 + beta^2)).
	let mut sigma_sq = Vec::with_capacity(players.len());
	let mut c_sq = Fixed::ZERO;
	for (rating, _) in players {
		let s2 = rating
			.sigma
			.checked_mul(rating.sigma)
			.and_then(|s2| s2.checked_add(tau_sq))
			.ok_or(ovf)?;
		c_sq = c_sq.checked_add(s2).and_then(|x| x.checked_add(beta_sq)).ok_or(ovf)?;
		sigma_sq.push(s2);
	}
	let c = c_sq.sqrt().ok_or(ovf)?;

	// Players sorted by rank (stable), split into tie groups, best group first.
	let mut order: Vec<usize> = (0..players.len()).collect();
	order.sort_by_key(|&i| players.get(i).map_or(0, |p| p.1));
	let groups = tie_groups(players, &order);

	// For each group q, (m_q, s_q) with S_q = exp(m_q / c) * s_q, accumulated from the worst
	// group up, rescaling s whenever a larger mu raises the reference point.
	let mut norm: Vec<(Fixed, Fixed)> = Vec::with_capacity(groups.len());
	let mut acc: Option<(Fixed, Fixed)> = None;
	for &(start, end) in groups.iter().rev() {
		for &i in order.get(start..end).unwrap_or(&[]) {
			let mu = players.get(i).ok_or(ovf)?.0.mu;
			acc = Some(match acc {
				None => (mu, Fixed::ONE),
				Some((m, s)) if mu > m => {
					let shrink = m
						.checked_sub(mu)
						.and_then(|d| d.checked_div(c))
						.and_then(Fixed::exp)
						.ok_or(ovf)?;
					(mu, s.checked_mul(shrink).and_then(|x| x.checked_add(Fixed::ONE)).ok_or(ovf)?)
				}
				Some((m, s)) => {
					let e = mu
						.checked_sub(m)
						.and_then(|d| d.checked_div(c))
						.and_then(Fixed::exp)
						.ok_or(ovf)?;
					(m, s.checked_add(e).ok_or(ovf)?)
				}
			});
		}
		norm.push(acc.ok_or(ovf)?);
	}
	norm.reverse();

	let mut out: Vec<Rating> = players.iter().map(|p| p.0).collect();
	for (h, &(start, end)) in groups.iter().enumerate() {
		let own_size = i128::try_from(end.saturating_sub(start)).map_err(|_| ovf)?;
		for &i in order.get(start..end).unwrap_or(&[]) {
			let mu = players.get(i).ok_or(ovf)?.0.mu;
			let s2 = *sigma_sq.get(i).ok_or(ovf)?;
			let mut omega = Fixed::ONE.checked_div_int(own_size).ok_or(ovf)?;
			let mut delta = Fixed::ZERO;
			for &(m_q, s_q) in norm.get(..=h).unwrap_or(&[]) {
				let e = mu
					.checked_sub(m_q)
					.and_then(|d| d.checked_div(c))
					.and_then(Fixed::exp)
					.ok_or(ovf)?;
				let p = e.checked_div(s_q).ok_or(ovf)?;
				omega = omega.checked_sub(p).ok_or(ovf)?;
				let pq = p.checked_mul(Fixed::ONE.checked_sub(p).ok_or(ovf)?).ok_or(ovf)?;
				delta = delta.checked_add(pq).ok_or(ovf)?;
			}
			// omega *= sigma^2 / c;  delta *= sigma^2 / c^2 * gamma, gamma = sigma / c.
			let sigma = s2.sqrt().ok_or(ovf)?;
			let s2_over_c = s2.checked_div(c).ok_or(ovf)?;
			omega = omega.checked_mul(s2_over_c).ok_or(ovf)?;
			let gamma = sigma.checked_div(c).ok_or(ovf)?;
			delta = delta
				.checked_mul(s2_over_c)
				.and_then(|d| d.checked_div(c))
				.and_then(|d| d.checked_mul(gamma))
				.ok_or(ovf)?;
			let shrink = Fixed::ONE.checked_sub(delta).ok_or(ovf)?.max(params.kappa);
			let new = Rating::new(
				mu.checked_add(omega)
					.ok_or(ovf)?
					.clamp_to(Fixed::ZERO.saturating_sub(RATING_LIMIT), RATING_LIMIT),
				sigma
					.checked_mul(shrink.sqrt().ok_or(ovf)?)
					.ok_or(ovf)?
					.clamp_to(MIN_SIGMA, RATING_LIMIT),
			);
			*out.get_mut(i).ok_or(ovf)? = new;
		}
	}
	Ok(out)
}

/// Half-open ranges of `order` (sorted by rank) holding equal ranks, in order.
fn tie_groups(players: &[(Rating, u32)], order: &[usize]) -> Vec<(usize, usize)> {
	let rank_at = |k: usize| order.get(k).and_then(|&i| players.get(i)).map(|p| p.1);
	let mut groups = Vec::new();
	let mut start = 0;
	for k in 1..=order.len() {
		if k == order.len() || rank_at(k) != rank_at(start) {
			groups.push((start, k));
			start = k;
		}
	}
	groups
}

#[cfg(test)]
mod tests {
	use super::*;

	fn fx(x: f64) -> Fixed {
		Fixed::from_raw((x * 1e18).round() as i128)
	}

	fn fl(x: Fixed) -> f64 {
		x.into_raw() as f64 / 1e18
	}

	/// The update in f64, written from the formulas in the module docs.
	fn reference(players: &[(f64, f64, u32)], beta: f64, tau: f64, kappa: f64) -> Vec<(f64, f64)> {
		let ps: Vec<(f64, f64, u32)> =
			players.iter().map(|&(m, s, r)| (m, (s * s + tau * tau).sqrt(), r)).collect();
		let c = ps.iter().map(|p| p.1 * p.1 + beta * beta).sum::<f64>().sqrt();
		let mut ranks: Vec<u32> = ps.iter().map(|p| p.2).collect();
		ranks.sort();
		ranks.dedup();
		ps.iter()
			.map(|&(mu, s, r)| {
				let a = ps.iter().filter(|p| p.2 == r).count() as f64;
				let (mut om, mut de) = (1.0 / a, 0.0);
				for &g in ranks.iter().filter(|&&g| g <= r) {
					let sq: f64 = ps.iter().filter(|p| p.2 >= g).map(|p| (p.0 / c).exp()).sum();
					let p = (mu / c).exp() / sq;
					om -= p;
					de += p * (1.0 - p);
				}
				let om = om * s * s / c;
				let de = de * s * s / (c * c) * (s / c);
				(mu + om, s * (1.0 - de).max(kappa).sqrt())
			})
			.collect()
	}

	#[test]
	fn matches_float_reference_with_ties() {
		let game =
			[(30.0, 5.0, 1), (20.0, 8.0, 2), (25.0, 3.0, 2), (-4.0, 0.5, 9), (60.0, 12.0, 0)];
		let input: Vec<(Rating, u32)> =
			game.iter().map(|&(m, s, r)| (Rating::new(fx(m), fx(s)), r)).collect();
		let got = rate(&OpenSkillParams::default(), &input).unwrap();
		let want = reference(&game, 7.0, 0.1, 1e-4);
		for (g, w) in got.iter().zip(&want) {
			assert!((fl(g.mu) - w.0).abs() < 1e-12 * w.0.abs().max(1.0), "{g:?} vs {w:?}");
			assert!((fl(g.sigma) - w.1).abs() < 1e-12 * w.1, "{g:?} vs {w:?}");
		}
		// Known output of openskill 6.2.0 for the first three players alone.
		let three = rate(&OpenSkillParams::default(), &input[..3]).unwrap();
		assert!((fl(three[0].mu) - 30.889039303280516).abs() < 1e-12);
		assert!((fl(three[1].mu) - 19.366271223086617).abs() < 1e-12);
		assert!((fl(three[2].sigma) - 2.996771531567245).abs() < 1e-12);
	}

	#[test]
	fn winner_gains_loser_loses_and_uncertainty_shrinks() {
		let p = OpenSkillParams::default();
		let r0 = p.initial_rating();
		let out = rate(&p, &[(r0, 0), (r0, 1)]).unwrap();
		assert!(out[0].mu > r0.mu && out[1].mu < r0.mu);
		assert!(out[0].sigma < r0.sigma && out[1].sigma < r0.sigma);
		assert_eq!(r0.ordinal(), Fixed::from_raw(1));
		// Rank values only matter through their order.
		assert_eq!(out, rate(&p, &[(r0, 7), (r0, 1_000)]).unwrap());
	}

	proptest::proptest! {
		/// Random games agree with the float reference and keep sigma within its bounds.
		#[test]
		fn random_games_match_reference(
			game in proptest::collection::vec((-50.0f64..100.0, 0.05f64..12.0, 0u32..12), 1..48),
		) {
			let input: Vec<(Rating, u32)> = game.iter().map(|&(m, s, r)| (Rating::new(fx(m), fx(s)), r)).collect();
			// Feed the reference the exact inputs the fixed-point side sees.
			let exact: Vec<(f64, f64, u32)> = input.iter().map(|(r, rank)| (fl(r.mu), fl(r.sigma), *rank)).collect();
			let got = rate(&OpenSkillParams::default(), &input).unwrap();
			let want = reference(&exact, 7.0, 0.1, 1e-4);
			for ((g, w), (_, s, _)) in got.iter().zip(&want).zip(&exact) {
				proptest::prop_assert!((fl(g.mu) - w.0).abs() <= 1e-11 * w.0.abs().max(1.0));
				proptest::prop_assert!((fl(g.sigma) - w.1).abs() <= 1e-11 * w.1);
				proptest::prop_assert!(g.sigma.is_positive() && fl(g.sigma) <= (s * s + 0.01).sqrt() + 1e-15);
			}
		}
	}

	proptest::proptest! {
		#![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
		/// Over the whole accepted parameter space, repeated settlements never fail and never
		/// leave the bounds: every output is a valid input to the next update.
		#[test]
		fn accepted_params_keep_ratings_in_bounds(
			mu0 in -10_000i64..=10_000,
			sigma0_milli in 1i64..=10_000_000,
			beta_milli in 1i64..=10_000_000,
			tau_milli in 0i64..=10_000_000,
			kappa_ppm in 1i64..=1_000_000,
			games in proptest::collection::vec(proptest::collection::vec(0u32..4, 1..12), 1..24),
		) {
			let milli = |m: i64| Fixed::from_raw(i128::from(m) * 1_000_000_000_000_000);
			let p = OpenSkillParams {
				mu0: Fixed::from_int(mu0),
				sigma0: milli(sigma0_milli),
				beta: milli(beta_milli),
				tau: milli(tau_milli),
				kappa: Fixed::from_ppm(kappa_ppm),
			};
			proptest::prop_assert!(p.validate().is_ok());
			let mut ratings = vec![p.initial_rating(); 12];
			for ranks in &games {
				let game: Vec<(Rating, u32)> = ranks.iter().enumerate().map(|(i, &r)| (ratings[i], r)).collect();
				let out = rate(&p, &game);
				proptest::prop_assert!(out.is_ok(), "{:?} with {:?}", out, p);
				for (i, r) in out.unwrap().into_iter().enumerate() {
					proptest::prop_assert!(r.sigma.is_positive() && r.sigma <= RATING_LIMIT);
					proptest::prop_assert!(r.mu.saturating_abs() <= RATING_LIMIT);
					ratings[i] = r;
				}
			}
		}
	}

	/// The issue's failure: `mu0` at the edge made `rate` return a rating it then refused.
	#[test]
	fn edge_parameters_are_refused_and_edge_ratings_stay_inside() {
		let p = OpenSkillParams::default();
		let over = |f: fn(&mut OpenSkillParams)| {
			let mut q = p;
			f(&mut q);
			q.validate()
		};
		assert_eq!(over(|q| q.mu0 = RATING_LIMIT), Err(RateError::InvalidParams));
		assert_eq!(
			over(|q| q.mu0 = Fixed::ZERO.saturating_sub(PARAM_LIMIT).saturating_sub(Fixed::ONE)),
			Err(RateError::InvalidParams)
		);
		assert_eq!(
			over(|q| q.sigma0 = PARAM_LIMIT.saturating_add(Fixed::ONE)),
			Err(RateError::InvalidParams)
		);
		assert_eq!(
			over(|q| q.tau = PARAM_LIMIT.saturating_add(Fixed::ONE)),
			Err(RateError::InvalidParams)
		);
		assert_eq!(over(|q| q.mu0 = PARAM_LIMIT), Ok(()));
		// Ratings at the edge of the accepted inputs (a chain that got there before this fix)
		// come back inside the bounds, and again valid as inputs.
		let wide = OpenSkillParams { tau: PARAM_LIMIT, ..p };
		let edge = Rating::new(RATING_LIMIT, RATING_LIMIT);
		let mut game = vec![
			(edge, 0),
			(Rating::new(Fixed::ZERO.saturating_sub(RATING_LIMIT), RATING_LIMIT), 1),
		];
		for _ in 0..5 {
			let out = rate(&wide, &game).unwrap();
			assert!(out.iter().all(|r| r.mu.saturating_abs() <= RATING_LIMIT
				&& r.sigma <= RATING_LIMIT
				&& r.sigma.is_positive()));
			game = out.into_iter().zip([0, 1]).collect();
		}
	}

	#[test]
	fn degenerate_games() {
		let p = OpenSkillParams::default();
		assert_eq!(rate(&p, &[]), Ok(Vec::new()));
		let r0 = p.initial_rating();
		let lone = rate(&p, &[(r0, 3)]).unwrap();
		assert_eq!(lone[0].mu, r0.mu);
		let bad = Rating::new(Fixed::ZERO, Fixed::ZERO);
		assert_eq!(rate(&p, &[(bad, 0)]), Err(RateError::InvalidRating));
		let far = Rating::new(Fixed::from_int(2_000_000), Fixed::ONE);
		assert_eq!(rate(&p, &[(far, 0)]), Err(RateError::InvalidRating));
		let no_beta = OpenSkillParams { beta: Fixed::ZERO, ..p };
		assert_eq!(rate(&no_beta, &[(r0, 0)]), Err(RateError::InvalidParams));
		// Extreme but valid ratings: exponentials underflow to zero without error.
		let hi = Rating::new(RATING_LIMIT, Fixed::from_ppm(1));
		let lo = Rating::new(Fixed::ZERO.saturating_sub(RATING_LIMIT), Fixed::from_ppm(1));
		let out = rate(&p, &[(hi, 1), (lo, 0), (r0, 1)]).unwrap();
		assert!(out[1].mu > lo.mu && out[0].mu < hi.mu);
	}
}
