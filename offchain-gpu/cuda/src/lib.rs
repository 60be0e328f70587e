//! The CUDA backend of the training model: parameters, gradients, AdamW state and
//! activations live in device memory; matmuls (linear layers and attention's QK^T / PV
//! products) run on cuBLAS, everything else on the CUDA C kernels of `kernels/`, compiled
//! at run time by NVRTC. cudarc loads libcuda, libcublas and libnvrtc dynamically, so this
//! crate builds on machines without CUDA and [`CudaBackend::new`] reports a named error
//! where no driver or device is present.
//!
//! The same kernel sources also build for the host through a small CUDA simulator
//! ([`sim`]), which is how their logic is tested against training-model's CPU ops on
//! machines without a GPU.
//!
//! [`sparseloco`] runs SparseLoCo's compression and aggregation with the kernels of
//! `kernels/sparseloco.cu`, on a GPU or in the simulator.

pub mod adamw;
mod backend;
pub mod error;
pub mod kernels;
pub mod nvrtc;
pub mod rope_table;
pub mod sim;
pub mod sparseloco;

pub use adamw::AdamWStep;
pub use backend::mem::{Buf, Elem};
pub use backend::{probe, CudaBackend, DeviceKind};
pub use error::CudaError;
pub use rope_table::rope_tables;
