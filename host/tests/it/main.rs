//! Integration tests of the `chowk-host` crate, in one test binary: the `chowk` binary as its
//! users run it (`cli`; the spam tools `chowk train`, `chowk eval` reports and `plugin check`
//! with assets in `spam_tools`), and the import rules between the host's layers (`layers`).

mod cli;
mod layers;
mod spam_tools;
