//! The runtime interface the worker relies on, written as SCALE wire shapes, and the checks
//! that keep the worker and the runtime in agreement.
//!
//! A [`Signature`] is one call, view function or event of the training pallet with the
//! *shape* of each parameter: what the bytes look like on the wire, independent of where
//! the Rust type lives. Structs keep their field names in order, one-field wrappers
//! (`BoundedVec<u8, _>`, `AccountId32`) collapse to what they wrap, enums keep their variant
//! indices and names. Two sides whose signatures print the same line encode and decode each
//! other's bytes.
//!
//! Three places compare signatures:
//! - `offchain-gpu/metadata/training.txt` (checked in) lists every signature of the pallet,
//!   generated from the runtime's own metadata. The system test `metadata` fails when the
//!   runtime's interface changes and the file does not; the file's header says how to
//!   regenerate it, and its diff shows reviewers what a runtime change does to the wire.
//! - [`super::api::used`] lists what this worker calls, reads and decodes, with the Rust
//!   types it encodes; a unit test checks each line against the checked-in file.
//! - [`super::Chain::connect`] checks the same list against the live node's metadata, so a
//!   worker built for another runtime stops with one line naming the first difference
//!   instead of having its transactions refused one by one.

use std::fmt::{self, Write};
use std::marker::PhantomData;

use codec::{Decode, Encode};
use scale_info::form::PortableForm;
use scale_info::{Field, PortableRegistry, TypeDef, TypeDefPrimitive, TypeInfo};
use subxt::metadata::Metadata;

use super::{RawCall, PALLET};

/// What a signature belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
	Call,
	View,
	Event,
}

impl fmt::Display for Kind {
	fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
		f.write_str(match self {
			Kind::Call => "call",
			Kind::View => "view",
			Kind::Event => "event",
		})
	}
}

/// A call, view function or event with the wire shape of its parameters (and output).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
	pub kind: Kind,
	pub name: String,
	/// `(name, shape)`; the name is `None` for unnamed (tuple) fields.
	pub params: Vec<(Option<String>, String)>,
	/// The output shape of a view function.
	pub output: Option<String>,
}

impl Signature {
	/// The signature as one line: `call commit_gradient(run: u32, ...)`,
	/// `view run_status(run: u32) -> Option<...>`.
	pub fn line(&self) -> String {
		let params: Vec<String> = self
			.params
			.iter()
			.map(|(name, shape)| match name {
				Some(n) => format!("{n}: {shape}"),
				None => shape.clone(),
			})
			.collect();
		let mut line = format!("{} {}({})", self.kind, self.name, params.join(", "));
		if let Some(out) = &self.output {
			let _ = write!(line, " -> {out}");
		}
		line
	}

	/// What the line starts with, whatever the parameters: `call commit_gradient(`.
	fn key(&self) -> String {
		format!("{} {}(", self.kind, self.name)
	}
}

/// Why the worker and a runtime disagree.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Mismatch {
	#[error("the runtime has no pallet {0}")]
	NoPallet(String),
	#[error("the runtime's {pallet} pallet has no `{key}...)` (this worker uses `{ours}`)")]
	Missing { pallet: String, key: String, ours: String },
	#[error("the runtime's {pallet} pallet has `{theirs}`, this worker uses `{ours}`")]
	Differs { pallet: String, theirs: String, ours: String },
}

/// Checks that every signature in `ours` appears, line for line, among `theirs` (lines of
/// the runtime's pallet). Returns the first difference.
pub fn check<'a>(
	pallet: &str,
	ours: &[Signature],
	theirs: impl IntoIterator<Item = &'a str>,
) -> Result<(), Mismatch> {
	let theirs: Vec<&str> = theirs.into_iter().collect();
	for sig in ours {
		let (key, line) = (sig.key(), sig.line());
		match theirs.iter().find(|l| l.starts_with(&key)) {
			None => return Err(Mismatch::Missing { pallet: pallet.into(), key, ours: line }),
			Some(t) if *t != line => {
				return Err(Mismatch::Differs {
					pallet: pallet.into(),
					theirs: (*t).into(),
					ours: line,
				})
			}
			Some(_) => {}
		}
	}
	Ok(())
}

/// Checks `ours` against the training pallet in a runtime's metadata (see [`check`]).
pub fn check_runtime(md: &Metadata, ours: &[Signature]) -> Result<(), Mismatch> {
	let theirs: Vec<String> = of_pallet(md, PALLET)?.iter().map(Signature::line).collect();
	check(PALLET, ours, theirs.iter().map(String::as_str))
}

/// Every call, view function and event of `pallet` in `md`, in metadata order (calls, then
/// view functions, then events).
pub fn of_pallet(md: &Metadata, pallet: &str) -> Result<Vec<Signature>, Mismatch> {
	let p = md.pallet_by_name(pallet).ok_or_else(|| Mismatch::NoPallet(pallet.into()))?;
	let types = md.types();
	let fields = |fields: &[Field<PortableForm>]| {
		fields.iter().map(|f| (f.name.clone(), shape(types, f.ty.id))).collect::<Vec<_>>()
	};
	let mut out = Vec::new();
	for v in p.call_variants().unwrap_or_default() {
		out.push(Signature {
			kind: Kind::Call,
			name: v.name.clone(),
			params: fields(&v.fields),
			output: None,
		});
	}
	for vf in p.view_functions() {
		out.push(Signature {
			kind: Kind::View,
			name: vf.name().into(),
			params: vf.inputs().map(|i| (Some(i.name.to_string()), shape(types, i.id))).collect(),
			output: Some(shape(types, vf.output_ty())),
		});
	}
	for v in p.event_variants().unwrap_or_default() {
		out.push(Signature {
			kind: Kind::Event,
			name: v.name.clone(),
			params: fields(&v.fields),
			output: None,
		});
	}
	Ok(out)
}

/// The checked-in file's text for `sigs`: a header, then one line per signature.
pub fn render_file(pallet: &str, sigs: &[Signature]) -> String {
	let mut text = format!(
		"# The {pallet} pallet's calls, view functions and events as SCALE wire shapes\n\
		 # (offchain-gpu/src/chain/interface.rs), generated from the runtime's metadata.\n\
		 # Regenerate after a runtime change and review the diff:\n\
		 #   UPDATE_METADATA=1 cargo test --release --locked -p system-tests --test metadata\n"
	);
	for s in sigs {
		text.push_str(&s.line());
		text.push('\n');
	}
	text
}

/// The signature lines of a file written by [`render_file`].
pub fn file_lines(text: &str) -> impl Iterator<Item = &str> {
	text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// The wire shape of type `id` (see the module docs).
pub fn shape(types: &PortableRegistry, id: u32) -> String {
	let mut out = String::new();
	write_shape(types, id, &mut out, &mut Vec::new());
	out
}

fn write_shape(types: &PortableRegistry, id: u32, out: &mut String, stack: &mut Vec<u32>) {
	let Some(ty) = types.resolve(id) else {
		let _ = write!(out, "<unknown type {id}>");
		return;
	};
	// A recursive type (a call enum holding calls) prints its name the second time.
	if stack.contains(&id) {
		out.push_str(ty.path.segments.last().map_or("<recursive>", String::as_str));
		return;
	}
	stack.push(id);
	let ident = ty.path.segments.last().map(String::as_str);
	match &ty.type_def {
		TypeDef::Composite(c) => write_fields(types, &c.fields, out, stack),
		TypeDef::Variant(v) => {
			let is = |name: &str, names: &[&str]| {
				ident == Some(name)
					&& v.variants.len() == names.len()
					&& v.variants.iter().zip(names).all(|(x, n)| x.name == *n)
			};
			if is("Option", &["None", "Some"]) || is("Result", &["Ok", "Err"]) {
				let _ = write!(out, "{}<", ident.unwrap_or_default());
				for (i, var) in v.variants.iter().filter(|var| !var.fields.is_empty()).enumerate() {
					if i > 0 {
						out.push_str(", ");
					}
					write_fields(types, &var.fields, out, stack);
				}
				out.push('>');
			} else {
				out.push_str("enum {");
				for (i, var) in v.variants.iter().enumerate() {
					if i > 0 {
						out.push(',');
					}
					let _ = write!(out, " {} {}", var.index, var.name);
					match var.fields.first() {
						None => {}
						// Tuple variants keep their parentheses, struct variants their braces.
						Some(f) if f.name.is_none() => {
							out.push('(');
							write_list(types, &var.fields, false, out, stack);
							out.push(')');
						}
						Some(_) => {
							out.push_str(" { ");
							write_list(types, &var.fields, true, out, stack);
							out.push_str(" }");
						}
					}
				}
				out.push_str(" }");
			}
		}
		TypeDef::Sequence(s) => {
			out.push_str("Vec<");
			write_shape(types, s.type_param.id, out, stack);
			out.push('>');
		}
		TypeDef::Array(a) => {
			out.push('[');
			write_shape(types, a.type_param.id, out, stack);
			let _ = write!(out, "; {}]", a.len);
		}
		TypeDef::Tuple(t) => {
			if let [one] = t.fields.as_slice() {
				write_shape(types, one.id, out, stack);
			} else {
				out.push('(');
				for (i, f) in t.fields.iter().enumerate() {
					if i > 0 {
						out.push_str(", ");
					}
					write_shape(types, f.id, out, stack);
				}
				out.push(')');
			}
		}
		TypeDef::Primitive(p) => out.push_str(primitive(p)),
		TypeDef::Compact(c) => {
			out.push_str("Compact<");
			write_shape(types, c.type_param.id, out, stack);
			out.push('>');
		}
		TypeDef::BitSequence(_) => out.push_str("BitVec"),
	}
	stack.pop();
}

/// Fields in order: none is `()`, one unnamed field is that field's shape, named fields are
/// `{ a: A, b: B }`, unnamed ones `(A, B)`.
fn write_fields(
	types: &PortableRegistry,
	fields: &[Field<PortableForm>],
	out: &mut String,
	stack: &mut Vec<u32>,
) {
	match fields {
		[] => out.push_str("()"),
		[one] if one.name.is_none() => write_shape(types, one.ty.id, out, stack),
		_ => {
			let named = fields.iter().all(|f| f.name.is_some());
			out.push_str(if named { "{ " } else { "(" });
			write_list(types, fields, named, out, stack);
			out.push_str(if named { " }" } else { ")" });
		}
	}
}

/// `a: A, b: B` (named) or `A, B`.
fn write_list(
	types: &PortableRegistry,
	fields: &[Field<PortableForm>],
	named: bool,
	out: &mut String,
	stack: &mut Vec<u32>,
) {
	for (i, f) in fields.iter().enumerate() {
		if i > 0 {
			out.push_str(", ");
		}
		if let (true, Some(n)) = (named, &f.name) {
			let _ = write!(out, "{n}: ");
		}
		write_shape(types, f.ty.id, out, stack);
	}
}

fn primitive(p: &TypeDefPrimitive) -> &'static str {
	match p {
		TypeDefPrimitive::Bool => "bool",
		TypeDefPrimitive::Char => "char",
		TypeDefPrimitive::Str => "str",
		TypeDefPrimitive::U8 => "u8",
		TypeDefPrimitive::U16 => "u16",
		TypeDefPrimitive::U32 => "u32",
		TypeDefPrimitive::U64 => "u64",
		TypeDefPrimitive::U128 => "u128",
		TypeDefPrimitive::U256 => "u256",
		TypeDefPrimitive::I8 => "i8",
		TypeDefPrimitive::I16 => "i16",
		TypeDefPrimitive::I32 => "i32",
		TypeDefPrimitive::I64 => "i64",
		TypeDefPrimitive::I128 => "i128",
		TypeDefPrimitive::I256 => "i256",
	}
}

/// The shapes of the Rust types `T` stands for: the elements of a tuple, or `T` itself.
fn shapes_of<T: TypeInfo + 'static>() -> Vec<String> {
	let mut registry = scale_info::Registry::new();
	let id = registry.register_type(&scale_info::meta_type::<T>()).id;
	let types = PortableRegistry::from(registry);
	match types.resolve(id).map(|t| &t.type_def) {
		Some(TypeDef::Tuple(t)) => t.fields.iter().map(|f| shape(&types, f.id)).collect(),
		_ => vec![shape(&types, id)],
	}
}

fn signature<A: TypeInfo + 'static>(
	kind: Kind,
	name: &str,
	params: &[&str],
	output: Option<String>,
) -> Signature {
	let shapes = shapes_of::<A>();
	debug_assert_eq!(shapes.len(), params.len(), "{name}: one name per parameter");
	Signature {
		kind,
		name: name.into(),
		params: params.iter().zip(shapes).map(|(n, s)| (Some((*n).to_string()), s)).collect(),
		output,
	}
}

/// A call of the training pallet taking the tuple `A` (see [`super::api`]).
pub struct Call<A> {
	pub name: &'static str,
	params: &'static [&'static str],
	_args: PhantomData<fn(A)>,
}

impl<A: Encode + TypeInfo + 'static> Call<A> {
	pub const fn new(name: &'static str, params: &'static [&'static str]) -> Self {
		Self { name, params, _args: PhantomData }
	}
	/// The call with these arguments, ready to sign.
	pub fn with(&self, args: A) -> RawCall {
		RawCall::new(PALLET, self.name, args)
	}
	pub fn signature(&self) -> Signature {
		signature::<A>(Kind::Call, self.name, self.params, None)
	}
}

/// A view function of the training pallet taking the tuple `A` and returning `R`.
pub struct View<A, R> {
	pub name: &'static str,
	params: &'static [&'static str],
	_types: PhantomData<fn(A) -> R>,
}

impl<A: Encode + TypeInfo + 'static, R: Decode + TypeInfo + 'static> View<A, R> {
	pub const fn new(name: &'static str, params: &'static [&'static str]) -> Self {
		Self { name, params, _types: PhantomData }
	}
	pub fn signature(&self) -> Signature {
		let output = shapes_of::<(R,)>().pop();
		signature::<A>(Kind::View, self.name, self.params, output)
	}
}

/// An event of the training pallet whose fields decode as the tuple `A`.
pub struct Event<A> {
	pub name: &'static str,
	params: &'static [&'static str],
	_fields: PhantomData<fn() -> A>,
}

impl<A: Decode + TypeInfo + 'static> Event<A> {
	pub const fn new(name: &'static str, params: &'static [&'static str]) -> Self {
		Self { name, params, _fields: PhantomData }
	}
	/// The event's fields, if the event `pallet.name` is this one.
	pub fn decode(
		&self,
		pallet: &str,
		name: &str,
		mut fields: &[u8],
	) -> Option<Result<A, codec::Error>> {
		(pallet == PALLET && name == self.name).then(|| A::decode(&mut fields))
	}
	pub fn signature(&self) -> Signature {
		signature::<A>(Kind::Event, self.name, self.params, None)
	}
}

/// Declares the typed [`Call`], [`View`] and [`Event`] constants the worker uses and a
/// `used()` listing their signatures, so the list cannot leave one out.
macro_rules! interface {
	(
		calls { $( $(#[$cm:meta])* $call:ident = $cname:literal ( $($cp:ident : $ct:ty),* $(,)? ); )* }
		views { $( $(#[$vm:meta])* $view:ident = $vname:literal ( $($vp:ident : $vt:ty),* $(,)? ) -> $vr:ty; )* }
		events { $( $(#[$em:meta])* $event:ident = $ename:literal ( $($ep:ident : $et:ty),* $(,)? ); )* }
	) => {
		$( $(#[$cm])* pub const $call: $crate::chain::interface::Call<($($ct,)*)> =
			$crate::chain::interface::Call::new($cname, &[$(stringify!($cp)),*]); )*
		$( $(#[$vm])* pub const $view: $crate::chain::interface::View<($($vt,)*), $vr> =
			$crate::chain::interface::View::new($vname, &[$(stringify!($vp)),*]); )*
		$( $(#[$em])* pub const $event: $crate::chain::interface::Event<($($et,)*)> =
			$crate::chain::interface::Event::new($ename, &[$(stringify!($ep)),*]); )*

		/// The signature of every call, view function and event above.
		pub fn used() -> Vec<$crate::chain::interface::Signature> {
			vec![ $( $call.signature(), )* $( $view.signature(), )* $( $event.signature(), )* ]
		}
	};
}
pub(crate) use interface;

#[cfg(test)]
mod tests {
	use super::*;

	#[derive(Encode, Decode, TypeInfo)]
	struct Wrapper(Vec<u8>);
	#[derive(Encode, Decode, TypeInfo)]
	struct Params {
		a: u32,
		#[codec(compact)]
		b: u64,
		url: Wrapper,
	}
	#[derive(Encode, Decode, TypeInfo)]
	enum Role {
		Miner,
		#[codec(index = 5)]
		Validator {
			stake: u128,
		},
	}

	#[test]
	fn shapes_follow_the_wire_not_the_rust_path() {
		assert_eq!(shapes_of::<(u32, [u8; 32], Wrapper)>(), ["u32", "[u8; 32]", "Vec<u8>"]);
		assert_eq!(shapes_of::<(Params,)>(), ["{ a: u32, b: Compact<u64>, url: Vec<u8> }"]);
		assert_eq!(shapes_of::<(Role,)>(), ["enum { 0 Miner, 5 Validator { stake: u128 } }"]);
		assert_eq!(shapes_of::<(Option<(u64, Vec<u8>)>,)>(), ["Option<(u64, Vec<u8>)>"]);
		assert_eq!(shapes_of::<(Result<(), u8>,)>(), ["Result<(), u8>"]);
	}

	const SEND: Call<(u32, Params)> = Call::new("send", &["run", "params"]);
	const READ: View<(u32,), Option<u64>> = View::new("read", &["run"]);

	#[test]
	fn lines_and_checks_name_the_difference() {
		let ours = [SEND.signature(), READ.signature()];
		assert_eq!(
			ours[0].line(),
			"call send(run: u32, params: { a: u32, b: Compact<u64>, url: Vec<u8> })"
		);
		assert_eq!(ours[1].line(), "view read(run: u32) -> Option<u64>");
		let file = render_file("Training", &ours);
		assert_eq!(check("Training", &ours, file_lines(&file)), Ok(()));
		// A parameter that changed type, and one that disappeared.
		let changed = [
			"call send(run: u64, params: { a: u32, b: Compact<u64>, url: Vec<u8> })",
			"view read(run: u32) -> Option<u64>",
		];
		match check("Training", &ours, changed) {
			Err(Mismatch::Differs { theirs, .. }) => {
				assert!(theirs.starts_with("call send(run: u64"))
			}
			other => panic!("{other:?}"),
		}
		let gone = ["view read(run: u32) -> Option<u64>"];
		let err = check("Training", &ours, gone).unwrap_err();
		assert!(matches!(err, Mismatch::Missing { .. }));
		assert!(err.to_string().contains("has no `call send(...)`"), "{err}");
	}

	#[test]
	fn recursive_types_terminate() {
		#[derive(TypeInfo)]
		#[allow(dead_code)]
		enum Tree {
			Leaf,
			Node(Vec<Tree>),
		}
		assert_eq!(shapes_of::<(Tree,)>(), ["enum { 0 Leaf, 1 Node(Vec<Tree>) }"]);
	}
}
