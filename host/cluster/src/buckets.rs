//! The JetStream buckets the hosts share, opened (made when missing) the same way by every host.

use async_nats::jetstream::{self, kv};

/// The key-value bucket `bucket` (history 1), made when missing. Its stream is made here as
/// `create_key_value` would, without that call's account query, whose answer async-nats 0.45
/// cannot read from the nats-server 2.9 Debian ships.
pub async fn key_value(
    jetstream: &jetstream::Context,
    bucket: &str,
    description: &str,
) -> Result<kv::Store, String> {
    let error =
        |e: &dyn std::fmt::Display| format!("cannot open the key-value bucket `{bucket}`: {e}");
    jetstream
        .get_or_create_stream(jetstream::stream::Config {
            name: format!("KV_{bucket}"),
            description: Some(description.to_string()),
            subjects: vec![format!("$KV.{bucket}.>")],
            max_messages_per_subject: 1,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: jetstream::stream::DiscardPolicy::New,
            ..Default::default()
        })
        .await
        .map_err(|e| error(&e))?;
    jetstream.get_key_value(bucket).await.map_err(|e| error(&e))
}
