//! What an administrator's request does to the documents: every operation that returns a
//! [`Change`](super::change::Change), one file per document it is a method of. They sit above
//! the documents and `Change` (which holds the documents), so nothing below imports them; each
//! reads its inputs, checks the rules (refusing with a
//! [`PolicyError`](super::error::PolicyError) that names what to fix) and never mutates them.
//! Only `impl` blocks (and their private helpers) live here: the methods are reached through
//! their types.

mod location;
mod organisation;
mod user;
