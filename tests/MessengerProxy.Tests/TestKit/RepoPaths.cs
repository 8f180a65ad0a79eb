namespace MessengerProxy.Tests.TestKit;

/// <summary>Locations in the repository checkout the tests run from.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string Combine(params string[] parts) => Path.Combine([Root, .. parts]);

    /// <summary>The Matrix spec folder (holding data/api), from MATRIX_SPEC_DIR or beside the checkout; null when absent.</summary>
    public static string? MatrixSpecDirectory()
    {
        var candidates = new[]
        {
            Environment.GetEnvironmentVariable("MATRIX_SPEC_DIR"),
            Path.Combine(Root, "..", "shared", "matrix-spec-v1.11"),
        };
        return candidates.FirstOrDefault(c => !string.IsNullOrEmpty(c) && Directory.Exists(Path.Combine(c, "data", "api")));
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MessengerProxy.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("MessengerProxy.sln not found above " + AppContext.BaseDirectory);
    }
}
