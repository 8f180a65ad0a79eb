namespace MessengerProxy.Policy.Endpoints;

/// <summary>
/// Builds a proxy's table, the same way for both directions: the Matrix v1.11 table, narrowed to the rows the
/// proxy serves, plus the operator's additions, minus the denials. Every error of the settings is collected
/// (named by their configuration key), so start-up reports them all at once.
/// </summary>
internal static class EndpointTableBuilder
{
    /// <param name="section">The configuration section, e.g. <c>Inbound</c>; errors name <c>{section}:ExtraEndpoints</c>.</param>
    /// <param name="rows">The rows of the v1.11 table the proxy serves; null for all of them.</param>
    /// <returns>Null with the reasons in <paramref name="errors"/> when the settings are wrong.</returns>
    public static EndpointTable? TryBuild(
        string section,
        IReadOnlyList<string> extraEndpoints,
        IReadOnlyList<string> deniedEndpoints,
        Func<EndpointDescriptor, bool>? rows,
        List<string> errors)
    {
        var before = errors.Count;
        var extras = EndpointRule.ParseAll(errors, $"{section}:ExtraEndpoints", extraEndpoints, allowCatchAll: true);
        var denials = EndpointRule.ParseAll(errors, $"{section}:DeniedEndpoints", deniedEndpoints, allowCatchAll: false);
        if (errors.Count > before)
        {
            return null;
        }

        try
        {
            var table = EndpointTable.LoadMatrixV111();
            return (rows is null ? table : table.Where(rows)).WithOperatorRules(extras, denials);
        }
        catch (ArgumentException ex)
        {
            errors.Add($"{section}: {ex.Message}");
            return null;
        }
    }
}
