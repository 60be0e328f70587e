//! Benchmarks (frame-benchmarking v2) of the pallet's one call. Its cost does not depend on
//! any input: one storage write and two events.

use super::*;
use frame_benchmarking::v2::*;
use frame_support::traits::EnsureOrigin;

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn authorize_upgrade() -> Result<(), BenchmarkError> {
		let origin = T::AuthorizeUpgradeOrigin::try_successful_origin()
			.map_err(|_| BenchmarkError::Weightless)?;
		let code_hash = T::Hash::default();
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, code_hash);
		assert!(frame_system::Pallet::<T>::authorized_upgrade().is_some());
		Ok(())
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}
