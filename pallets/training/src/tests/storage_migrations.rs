//! Storage migrations: each layout written as an older chain holds it, migrated, compared,
//! and driven further; the try-runtime checks.

use super::*;

/// What a run created with `test_params` looks like after the migrations to version 3: the
/// blob length is unknown to the chain (zero, unchecked); the other new fields have the
/// defaults `test_params` uses too.
fn migrated(info: RunInfo<u64>) -> RunInfo<u64> {
	RunInfo { params: RunParams { blob_len: 0, dataset_hash: [0; 32], ..info.params }, ..info }
}

/// Writes `run` in the v1 layout (without `created_at`), as a chain at version 1 holds it.
fn store_as_v1(run: RunId) -> migrations::v2::OldRunInfo<u64> {
	let info = Runs::<Test>::get(run).unwrap();
	let old = migrations::v2::OldRunInfo::downgrade(info);
	frame_support::storage::unhashed::put_raw(
		&Runs::<Test>::hashed_key_for(run),
		&codec::Encode::encode(&old),
	);
	old
}

#[test]
fn migration_v1_to_v2_adds_created_at_on_populated_state() {
	use frame_support::traits::{GetStorageVersion, OnRuntimeUpgrade, StorageVersion};
	new_test_ext().execute_with(|| {
		// Two runs created at different blocks, one of them active with peers and settled
		// rounds, the other closed.
		assert_ok!(Training::create_run(RuntimeOrigin::root(), test_params()));
		for who in 1..=3 {
			assert_ok!(Training::register_miner(RuntimeOrigin::signed(who), 0, url("file:///m")));
		}
		run_to_block(25);
		assert_ok!(Training::create_run(RuntimeOrigin::root(), test_params()));
		assert_ok!(Training::close_run(RuntimeOrigin::root(), 1));
		let (r0, r1) = (Runs::<Test>::get(0).unwrap(), Runs::<Test>::get(1).unwrap());
		assert_eq!((r0.created_at, r1.created_at), (1, 25));

		// Roll the state back to version 1.
		let old0 = store_as_v1(0);
		let old1 = store_as_v1(1);
		StorageVersion::new(1).put::<Training>();
		// In the old layout the new type does not decode.
		assert!(Runs::<Test>::get(0).is_none());

		migrations::v2::MigrateV1ToV2::<Test>::on_runtime_upgrade();
		assert_eq!(Training::on_chain_storage_version(), 2);
		// Running it again is a no-op (the version is already 2).
		let weight = migrations::v2::MigrateV1ToV2::<Test>::on_runtime_upgrade();
		assert_eq!(
			weight,
			<<Test as frame_system::Config>::DbWeight as frame_support::traits::Get<
				frame_support::weights::RuntimeDbWeight,
			>>::get()
			.reads(1)
		);
		// Then v2 -> v3 -> v4, as the runtime's migration tuple runs them.
		migrations::v3::MigrateV2ToV3::<Test>::on_runtime_upgrade();
		assert_eq!(Training::on_chain_storage_version(), 3);
		migrations::v4::MigrateV3ToV4::<Test>::on_runtime_upgrade();
		assert_eq!(Training::on_chain_storage_version(), 4);
		assert_eq!(Runs::<Test>::get(0).unwrap(), migrated(r0.clone()));
		assert_eq!(Runs::<Test>::get(1).unwrap(), migrated(r1.clone()));
		assert_eq!(old0.upgrade().upgrade().upgrade(), migrated(r0.clone()));
		assert_eq!(old1.upgrade().upgrade().upgrade(), migrated(r1));
		Training::do_try_state().unwrap();

		// The hooks keep driving the migrated run: it settles further rounds.
		run_to_block(60);
		assert!(Runs::<Test>::get(0).unwrap().next_settle > r0.next_settle);
	});
}

#[test]
fn migration_v1_to_v2_on_empty_state_only_bumps_the_version() {
	use frame_support::traits::{GetStorageVersion, OnRuntimeUpgrade, StorageVersion};
	new_test_ext().execute_with(|| {
		StorageVersion::new(1).put::<Training>();
		migrations::v2::MigrateV1ToV2::<Test>::on_runtime_upgrade();
		assert_eq!(Training::on_chain_storage_version(), 2);
		migrations::v3::MigrateV2ToV3::<Test>::on_runtime_upgrade();
		assert_eq!(Training::on_chain_storage_version(), 3);
		migrations::v4::MigrateV3ToV4::<Test>::on_runtime_upgrade();
		assert_eq!(Training::on_chain_storage_version(), 4);
		assert_eq!(Runs::<Test>::iter().count(), 0);
	});
}

#[cfg(feature = "try-runtime")]
#[test]
fn migration_v1_to_v2_try_runtime_checks_pass() {
	use frame_support::traits::{GetStorageVersion, OnRuntimeUpgrade, StorageVersion};
	new_test_ext().execute_with(|| {
		assert_ok!(Training::create_run(RuntimeOrigin::root(), test_params()));
		assert_ok!(Training::register_miner(RuntimeOrigin::signed(1), 0, url("file:///m")));
		store_as_v1(0);
		StorageVersion::new(1).put::<Training>();
		let state = migrations::v2::MigrateV1ToV2::<Test>::pre_upgrade().unwrap();
		migrations::v2::MigrateV1ToV2::<Test>::on_runtime_upgrade();
		migrations::v2::MigrateV1ToV2::<Test>::post_upgrade(state).unwrap();
		assert_eq!(Training::on_chain_storage_version(), 2);
		let state = migrations::v3::MigrateV2ToV3::<Test>::pre_upgrade().unwrap();
		migrations::v3::MigrateV2ToV3::<Test>::on_runtime_upgrade();
		migrations::v3::MigrateV2ToV3::<Test>::post_upgrade(state).unwrap();
		assert_eq!(Training::on_chain_storage_version(), 3);
		let state = migrations::v4::MigrateV3ToV4::<Test>::pre_upgrade().unwrap();
		migrations::v4::MigrateV3ToV4::<Test>::on_runtime_upgrade();
		migrations::v4::MigrateV3ToV4::<Test>::post_upgrade(state).unwrap();
		assert_eq!(Training::on_chain_storage_version(), 4);
	});
}

/// Writes `run` in the v3 layout (a dataset id instead of the dataset hash).
fn store_as_v3(run: RunId) -> migrations::v4::OldRunInfo<u64> {
	let old = migrations::v4::OldRunInfo::downgrade(Runs::<Test>::get(run).unwrap());
	frame_support::storage::unhashed::put_raw(
		&Runs::<Test>::hashed_key_for(run),
		&codec::Encode::encode(&old),
	);
	old
}

#[test]
fn migration_v3_to_v4_leaves_old_runs_unchecked_and_keeps_them_running() {
	use frame_support::traits::{GetStorageVersion, OnRuntimeUpgrade, StorageVersion};
	new_test_ext().execute_with(|| {
		assert_ok!(Training::create_run(RuntimeOrigin::root(), test_params()));
		for who in 1..=3 {
			assert_ok!(Training::register_miner(RuntimeOrigin::signed(who), 0, url("file:///m")));
		}
		run_to_block(25);
		let before = Runs::<Test>::get(0).unwrap();
		let old = store_as_v3(0);
		StorageVersion::new(3).put::<Training>();
		assert!(Runs::<Test>::get(0).is_none(), "the v3 layout does not decode as v4");

		migrations::v4::MigrateV3ToV4::<Test>::on_runtime_upgrade();
		assert_eq!(Training::on_chain_storage_version(), 4);
		let after = Runs::<Test>::get(0).unwrap();
		assert_eq!(after.params.dataset_hash, [0; 32]);
		assert_eq!(
			after,
			RunInfo {
				params: RunParams { dataset_hash: [0; 32], ..before.params.clone() },
				..before.clone()
			}
		);
		assert_eq!(old.upgrade(), after);
		// Once is enough: at version 4 it does nothing.
		migrations::v4::MigrateV3ToV4::<Test>::on_runtime_upgrade();
		assert_eq!(Runs::<Test>::get(0).unwrap(), after);
		Training::do_try_state().unwrap();
		run_to_block(60);
		assert!(Runs::<Test>::get(0).unwrap().next_settle > before.next_settle);
	});
}
