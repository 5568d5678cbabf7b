/// The gateway's version: `sluice --version`, the OTLP resource's `service.version`, the
/// Debian package's version (`scripts/package` reads it from here).
public enum SluiceVersion {
    public static let text = "0.9.0"
}
