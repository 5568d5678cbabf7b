/// The gateway's version: `sluice --version` and the OTLP resource's `service.version`
/// (the Debian package's version comes from `git describe`, see `scripts/package`).
public enum SluiceVersion {
    public static let text = "0.9.0"
}
