pub mod schema {}
