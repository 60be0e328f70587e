//! Results: each method's held-out loss curve with its token and byte counts.

use std::fmt;
use std::time::Duration;

/// The training methods compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
	/// One model, AdamW on the union of the replicas' batches (data-parallel training).
	AdamW,
	/// R replicas, H inner steps, Nesterov outer step on the averaged dense pseudo-gradient.
	DiLoCo,
	/// DiLoCo's inner loop with compressed pseudo-gradients and a plain SGD outer step.
	SparseLoCo,
}

impl Method {
	pub const ALL: [Method; 3] = [Method::AdamW, Method::DiLoCo, Method::SparseLoCo];

	pub fn name(self) -> &'static str {
		match self {
			Method::AdamW => "AdamW",
			Method::DiLoCo => "DiLoCo",
			Method::SparseLoCo => "SparseLoCo",
		}
	}
}

impl fmt::Display for Method {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		f.write_str(self.name())
	}
}

/// One evaluation of the synced model, after `round` rounds (H inner steps each).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
	pub round: u64,
	/// Training tokens consumed by all replicas together.
	pub tokens: u64,
	pub heldout_loss: f32,
	/// Bytes one replica has sent so far.
	pub bytes_sent: u64,
}

/// A method's run: one point per round, starting with the initial model at round 0.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
	pub method: Method,
	pub points: Vec<Point>,
	/// Wall time of training and evaluation.
	pub wall: Duration,
}

impl Curve {
	/// The last evaluation.
	pub fn last(&self) -> Option<&Point> {
		self.points.last()
	}
}
