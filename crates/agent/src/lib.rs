//! The agent's library: the HTTP exchange with the server that the real agent
//! and the simulator share, and the simulator itself (which `muster serve
//! --demo` runs in-process).

pub mod http;
pub mod sim;
