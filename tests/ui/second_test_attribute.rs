// `#[gort::test]` already adds `#[test]`: a second test attribute is an error.

#[gort::test]
#[test]
async fn twice() {}

fn main() {}
