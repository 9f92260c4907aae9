//! Procedural macros of signalqueue.
