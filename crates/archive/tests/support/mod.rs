pub mod azurite;
pub mod moto;
