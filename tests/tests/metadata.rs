//! The checked-in interface file (`offchain-gpu/metadata/training.txt`) is the runtime's:
//! generated here from the metadata of the runtime this workspace builds, so a change to the
//! training pallet's calls, view functions or events cannot land without the file (and the
//! worker, whose unit tests check what it uses against the file) following it.
//!
//! `UPDATE_METADATA=1` rewrites the file instead of comparing.

use offchain_gpu::chain::{interface, PALLET};

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../offchain-gpu/metadata/training.txt");

#[test]
fn checked_in_interface_is_the_runtimes() {
	// Version 16 is the first with view functions, which the worker reads.
	let bytes = training_runtime::Runtime::metadata_at_version(16)
		.expect("the runtime offers metadata v16");
	let md =
		subxt::metadata::Metadata::decode_from(&bytes).expect("the runtime's metadata decodes");
	let sigs = interface::of_pallet(&md, PALLET).expect("the runtime has the training pallet");
	let text = interface::render_file(PALLET, &sigs);
	println!("{} signatures of {PALLET}", sigs.len());
	if std::env::var_os("UPDATE_METADATA").is_some() {
		std::fs::write(FILE, &text).expect("writing the interface file");
		println!("wrote {FILE}");
		return;
	}
	let checked_in = std::fs::read_to_string(FILE).unwrap_or_default();
	if checked_in != text {
		let ours: Vec<&str> = interface::file_lines(&text).collect();
		let theirs: Vec<&str> = interface::file_lines(&checked_in).collect();
		for l in ours.iter().filter(|l| !theirs.contains(l)) {
			println!("+ {l}");
		}
		for l in theirs.iter().filter(|l| !ours.contains(l)) {
			println!("- {l}");
		}
		panic!(
			"{FILE} is not the runtime's interface (differences above, + is the runtime's); \
			 regenerate it with `UPDATE_METADATA=1 cargo test --release --locked -p system-tests --test metadata`"
		);
	}
	// What the worker uses is in it (its unit test checks the same against the file).
	interface::check(PALLET, &offchain_gpu::chain::api::used(), interface::file_lines(&text))
		.expect("the worker's calls");
}
