namespace MessengerProxy.Tests.TestKit;

public static class TestDirectories
{
    /// <summary>Deletes a temporary directory; a background writer of the code under test may still be finishing, so it retries briefly.</summary>
    public static void Delete(string path)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                if (Directory.Exists(path))
                {
                    Directory.Delete(path, recursive: true);
                }

                return;
            }
            catch (IOException) when (attempt < 20)
            {
                Thread.Sleep(50);
            }
        }
    }
}
