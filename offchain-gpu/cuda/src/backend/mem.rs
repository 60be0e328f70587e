//! Device memory of either device: a real GPU's (cudarc) or the simulated device's (host
//! vectors). The backend's orchestration is written once against these types; a buffer
//! always belongs to the device that allocated it.

use std::ops::Range;

use cudarc::driver::{CudaSlice, CudaView, CudaViewMut, DeviceRepr, ValidAsZeroBits};

/// An element type the devices store.
pub trait Elem: DeviceRepr + ValidAsZeroBits + Copy + Default + Unpin + 'static {}
impl Elem for f32 {}
impl Elem for f64 {}
impl Elem for u8 {}
impl Elem for u16 {}
impl Elem for u32 {}
impl Elem for u64 {}

/// A buffer in device memory.
pub enum Buf<T> {
	Cuda(CudaSlice<T>),
	Host(Vec<T>),
}

/// A read-only window into a [`Buf`].
pub enum View<'a, T> {
	Cuda(CudaView<'a, T>),
	Host(&'a [T]),
}

/// A writable window into a [`Buf`].
pub enum ViewMut<'a, T> {
	Cuda(CudaViewMut<'a, T>),
	Host(&'a mut [T]),
}

impl<T> Buf<T> {
	pub fn len(&self) -> usize {
		match self {
			Buf::Cuda(s) => s.len(),
			Buf::Host(v) => v.len(),
		}
	}

	pub fn is_empty(&self) -> bool {
		self.len() == 0
	}

	pub fn slice(&self, r: impl RangeTo) -> View<'_, T> {
		let r = r.within(self.len());
		match self {
			Buf::Cuda(s) => View::Cuda(s.slice(r)),
			Buf::Host(v) => View::Host(&v[r]),
		}
	}

	pub fn slice_mut(&mut self, r: impl RangeTo) -> ViewMut<'_, T> {
		let r = r.within(self.len());
		match self {
			Buf::Cuda(s) => ViewMut::Cuda(s.slice_mut(r)),
			Buf::Host(v) => ViewMut::Host(&mut v[r]),
		}
	}
}

/// The two range forms the backend slices with (`a..b` and `a..`).
pub trait RangeTo {
	fn within(self, len: usize) -> Range<usize>;
}

impl RangeTo for Range<usize> {
	fn within(self, _: usize) -> Range<usize> {
		self
	}
}

impl RangeTo for std::ops::RangeFrom<usize> {
	fn within(self, len: usize) -> Range<usize> {
		self.start..len
	}
}

impl RangeTo for std::ops::RangeTo<usize> {
	fn within(self, _: usize) -> Range<usize> {
		0..self.end
	}
}

/// Something a kernel reads: a whole buffer or a view.
pub trait Src<T> {
	fn src(&self) -> View<'_, T>;
}

/// Something a kernel writes: a whole buffer or a writable view.
pub trait Dst<T> {
	fn dst(&mut self) -> ViewMut<'_, T>;
}

impl<T> Src<T> for Buf<T> {
	fn src(&self) -> View<'_, T> {
		self.slice(0..self.len())
	}
}

impl<T> Src<T> for View<'_, T> {
	fn src(&self) -> View<'_, T> {
		match self {
			View::Cuda(v) => View::Cuda(v.slice(..)),
			View::Host(s) => View::Host(s),
		}
	}
}

impl<T> Src<T> for ViewMut<'_, T> {
	fn src(&self) -> View<'_, T> {
		match self {
			ViewMut::Cuda(v) => View::Cuda(v.slice(..)),
			ViewMut::Host(s) => View::Host(s),
		}
	}
}

impl<T> Dst<T> for Buf<T> {
	fn dst(&mut self) -> ViewMut<'_, T> {
		let len = self.len();
		self.slice_mut(0..len)
	}
}

impl<T> Dst<T> for ViewMut<'_, T> {
	fn dst(&mut self) -> ViewMut<'_, T> {
		match self {
			ViewMut::Cuda(v) => ViewMut::Cuda(v.slice_mut(..)),
			ViewMut::Host(s) => ViewMut::Host(s),
		}
	}
}

/// A buffer of one device reached the other device: a bug in the backend, never input.
const FOREIGN: &str = "a buffer of one device was passed to the other";

impl<'a, T> View<'a, T> {
	#[allow(clippy::len_without_is_empty)] // only the launch checks ask
	pub fn len(&self) -> usize {
		match self {
			View::Cuda(v) => v.len(),
			View::Host(s) => s.len(),
		}
	}

	pub fn cuda(&self) -> &CudaView<'a, T> {
		match self {
			View::Cuda(v) => v,
			View::Host(_) => panic!("{FOREIGN}"),
		}
	}

	pub fn host(&self) -> &'a [T] {
		match self {
			View::Host(s) => s,
			View::Cuda(_) => panic!("{FOREIGN}"),
		}
	}
}

impl<'a, T> ViewMut<'a, T> {
	#[allow(clippy::len_without_is_empty)] // only the launch checks ask
	pub fn len(&self) -> usize {
		match self {
			ViewMut::Cuda(v) => v.len(),
			ViewMut::Host(s) => s.len(),
		}
	}

	pub fn cuda(&mut self) -> &mut CudaViewMut<'a, T> {
		match self {
			ViewMut::Cuda(v) => v,
			ViewMut::Host(_) => panic!("{FOREIGN}"),
		}
	}

	pub fn host(&mut self) -> &mut [T] {
		match self {
			ViewMut::Host(s) => s,
			ViewMut::Cuda(_) => panic!("{FOREIGN}"),
		}
	}
}
