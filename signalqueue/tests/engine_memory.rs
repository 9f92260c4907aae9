//! The engine contract, run against the in-memory engine (the reference implementation).

#[path = "support/contract.rs"]
mod contract;

use signalqueue::engine::memory::MemoryEngine;
use signalqueue::engine::{EngineOptions, SharedEngine};

/// Opens queues of the process-wide in-memory engine `contract`; every check uses its own
/// queue names, so sharing the engine is what the contract expects.
struct Memory;

impl contract::Fixture for Memory {
    async fn open(&self, options: EngineOptions) -> SharedEngine {
        MemoryEngine::named("contract", options)
    }
}

async fn fixture() -> Memory {
    Memory
}

contract::engine_contract_tests!(fixture);
