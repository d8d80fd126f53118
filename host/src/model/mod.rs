//! The domain, with no I/O: ids and times, events and what becomes of them
//! (deliveries, attempts, dead letters), where they go (sources, endpoints,
//! auth, retry policy, limits) and the request a delivery sends. Every
//! other module speaks these types; none of them reaches into another stage.

mod endpoint;
mod event;
mod ids;
mod net;
mod plugin;
mod request;

pub use endpoint::*;
pub use event::*;
pub use ids::*;
pub use net::is_private;
pub use plugin::*;
pub use request::*;
