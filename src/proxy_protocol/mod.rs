//! The PROXY protocol (v1 text and v2 binary), as a pure codec over byte slices.
