//! The Zenoh configuration a bridge opens its session with.
//!
//! Without `--config`: [`DEFAULTS`] (the crate's `bridge.json5`): peer mode, multicast
//! scouting and gossip off (a bridge talks only to the endpoints it is given), no listening
//! unless `--listen` (rather than Zenoh's `tcp/[::]:0` on every interface), and a blocked
//! send never closes the link. With `--config FILE` (Zenoh's JSON5 format; start from a copy
//! of `bridge.json5`), the file is taken as written. Either way `--listen`/`--connect`
//! replace the endpoint lists when given.

use std::path::Path;

use crate::Error;

/// The configuration without `--config`: the crate's `bridge.json5`.
pub const DEFAULTS: &str = include_str!("../bridge.json5");

/// Builds the session's configuration (see the module docs).
///
/// # Errors
/// [`Error::Config`] if the file cannot be read or parsed, or an endpoint is not a valid
/// Zenoh endpoint (`tcp/HOST:PORT`).
pub fn build(
    file: Option<&Path>,
    connect: &[String],
    listen: &[String],
) -> Result<zenoh::Config, Error> {
    let cfg_err = |what: String| move |e: zenoh::Error| Error::Config(format!("{what}: {e}"));
    let mut cfg = match file {
        Some(path) => zenoh::Config::from_file(path)
            .map_err(cfg_err(format!("reading {}", path.display())))?,
        None => zenoh::Config::from_json5(DEFAULTS)
            .map_err(cfg_err("the built-in bridge.json5".into()))?,
    };
    for (key, list) in [("connect/endpoints", connect), ("listen/endpoints", listen)] {
        if list.is_empty() {
            continue;
        }
        let json = serde_json::to_string(list).expect("a list of strings serialises");
        cfg.insert_json5(key, &json)
            .map_err(cfg_err(format!("{key} = {json}")))?;
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(cfg: &zenoh::Config, key: &str) -> String {
        cfg.get_json(key).expect(key)
    }

    #[test]
    fn defaults_are_peer_without_scouting_or_listening() {
        let cfg = build(None, &["tcp/127.0.0.1:7000".into()], &[]).unwrap();
        assert_eq!(get(&cfg, "mode"), "\"peer\"");
        assert_eq!(get(&cfg, "scouting/multicast/enabled"), "false");
        assert_eq!(get(&cfg, "scouting/gossip/enabled"), "false");
        assert_eq!(get(&cfg, "listen/endpoints"), "[]");
        assert_eq!(get(&cfg, "connect/endpoints"), "[\"tcp/127.0.0.1:7000\"]");
        assert_eq!(
            get(
                &cfg,
                "transport/link/tx/queue/congestion_control/block/wait_before_close"
            ),
            "86400000000"
        );
        let cfg = build(None, &[], &["tcp/127.0.0.1:7001".into()]).unwrap();
        assert_eq!(get(&cfg, "listen/endpoints"), "[\"tcp/127.0.0.1:7001\"]");
        assert_eq!(get(&cfg, "connect/endpoints"), "[]");
    }

    #[test]
    fn bad_endpoint_is_a_config_error() {
        let e = build(None, &["no-protocol".into()], &[]).unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e:?}");
    }

    #[test]
    fn file_is_taken_as_written_and_flags_replace_endpoints() {
        let dir = std::env::temp_dir().join(format!("ipc-bridge-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("z.json5");
        std::fs::write(
            &path,
            "{ mode: 'peer', scouting: { multicast: { enabled: false } },\n\
             // JSON5 comments are fine\n\
             listen: { endpoints: ['tcp/127.0.0.1:7001'] } }",
        )
        .unwrap();
        let cfg = build(Some(&path), &[], &[]).unwrap();
        assert_eq!(get(&cfg, "listen/endpoints"), "[\"tcp/127.0.0.1:7001\"]");
        let cfg = build(Some(&path), &[], &["tcp/127.0.0.1:7002".into()]).unwrap();
        assert_eq!(get(&cfg, "listen/endpoints"), "[\"tcp/127.0.0.1:7002\"]");
        std::fs::write(&path, "{ mode: ").unwrap();
        assert!(matches!(
            build(Some(&path), &[], &[]),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            build(Some(&dir.join("missing.json5")), &[], &[]),
            Err(Error::Config(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
