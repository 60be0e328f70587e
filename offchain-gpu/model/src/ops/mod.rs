//! The layers of the decoder, each with its forward and hand-written backward, generic over
//! [`crate::Float`]. Shapes are row-major; `n` is the number of token positions (batch x
//! sequence). Backward functions *accumulate* (`+=`) into parameter gradients and into input
//! gradients unless documented otherwise, so a tensor read by two consumers gets both
//! contributions.

pub mod attention;
pub mod cross_entropy;
pub mod embedding;
pub mod matmul;
pub mod rmsnorm;
pub mod rope;
pub mod swiglu;

#[cfg(test)]
pub(crate) mod gradcheck;
