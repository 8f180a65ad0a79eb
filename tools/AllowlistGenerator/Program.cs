using MessengerProxy.AllowlistGenerator;

if (args.Length is < 1 or > 2)
{
    Console.Error.WriteLine("usage: AllowlistGenerator <matrix-spec-dir> [<output.tsv>]");
    Console.Error.WriteLine("  <matrix-spec-dir> is the folder holding data/api (e.g. ../shared/matrix-spec-v1.11)");
    return 2;
}

try
{
    var table = AllowlistTableGenerator.Generate(args[0]);
    if (args.Length == 2)
    {
        File.WriteAllText(args[1], table);
        Console.Error.WriteLine($"wrote {table.Count(c => c == '\n') - 6} endpoints to {args[1]}");
    }
    else
    {
        Console.Out.Write(table);
    }

    return 0;
}
catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException)
{
    Console.Error.WriteLine($"error: {ex.Message}");
    return 1;
}
