/// The tools in force: the catalog (`/ai/tools`), the `[security]` settings and their compiled
/// policy. Re-made from the configuration on `reload`.
public struct ToolSetup: Sendable {
    public let catalog: ToolCatalog
    public let security: SecurityConfig
    public let policy: ToolPolicy
    /// The text of `/ai/tools`, rendered once per configuration (every `stat` reports its size).
    public let listing: [UInt8]

    /// The configuration's patterns were checked when it was read; should one still not
    /// compile, the built-in defaults apply.
    public init(settings: ToolSettings = ToolSettings(), security: SecurityConfig = SecurityConfig()) {
        catalog = ToolCatalog(settings: settings)
        self.security = security
        policy = (try? ToolPolicy(security)) ?? (try! ToolPolicy(SecurityConfig()))
        listing = catalog.listing()
    }
}
