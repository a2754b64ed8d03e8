//! Differential tests against HAProxy.
