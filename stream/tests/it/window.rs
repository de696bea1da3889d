//! Tests of the window module.
