/// The release this build belongs to; `GET /health` and `sendense --version` say it.
public enum SendenseVersion {
    public static let current = "0.1.0"
}
