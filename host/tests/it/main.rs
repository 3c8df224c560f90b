//! Integration tests of the `chowk-host` crate, in one test binary: the `chowk` binary as its
//! users run it (`cli`), and the import rules between the host's layers (`layers`).

mod cli;
mod layers;
