//! Migration between jail.conf(5) and stockade specs.
