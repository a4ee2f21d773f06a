//! The connectors the commands run workflows with.

use std::sync::Arc;

use baton_connectors::{ConnectorSettings, Registry};
use baton_engine::connector::Connectors;

pub fn registry(settings: &ConnectorSettings) -> Arc<dyn Connectors> {
    Arc::new(Registry::new(settings))
}
