// The module name is the one `wit-bindgen go` generates code for.
module wit_component

go 1.25

require go.bytecodealliance.org/pkg v0.2.3

// The WIT runtime package the bindings import. No Go module proxy is needed:
// third_party/ holds the copy that ships inside the wit-bindgen-go crate on
// crates.io (see README.md).
replace go.bytecodealliance.org/pkg => ./third_party/go.bytecodealliance.org/pkg
