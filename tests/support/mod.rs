pub mod loghub;
