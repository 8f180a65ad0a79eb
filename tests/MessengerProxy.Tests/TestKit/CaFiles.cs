using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace MessengerProxy.Tests.TestKit;

/// <summary>CA certificates and keys made with System.Security.Cryptography, written as PEM files into a temporary folder.</summary>
public sealed class CaFiles : IDisposable
{
    public CaFiles()
    {
        Directory = Path.Combine(Path.GetTempPath(), "messengerproxy-ca-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
    }

    public string Directory { get; }

    public static X509Certificate2 CreateEcCa(
        ECDsa key, DateTimeOffset notBefore, DateTimeOffset notAfter, bool isCa = true, X509KeyUsageFlags? usage = X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, string name = "CN=Test Outbound CA")
    {
        var request = new CertificateRequest(name, key, HashAlgorithmName.SHA256);
        AddCaExtensions(request, isCa, usage);
        return request.CreateSelfSigned(notBefore, notAfter);
    }

    public static X509Certificate2 CreateRsaCa(RSA key, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        var request = new CertificateRequest("CN=Test Outbound RSA CA", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        AddCaExtensions(request, isCa: true, X509KeyUsageFlags.KeyCertSign);
        return request.CreateSelfSigned(notBefore, notAfter);
    }

    /// <summary>Writes the certificate and key PEMs; returns their paths.</summary>
    public (string CertificatePath, string KeyPath) Write(X509Certificate2 certificate, string keyPem, string name = "ca")
    {
        var certificatePath = Path.Combine(Directory, name + ".crt");
        var keyPath = Path.Combine(Directory, name + ".key");
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, keyPem);
        return (certificatePath, keyPath);
    }

    public void Dispose() => TestDirectories.Delete(Directory);

    private static void AddCaExtensions(CertificateRequest request, bool isCa, X509KeyUsageFlags? usage)
    {
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(isCa, false, 0, true));
        if (usage is { } flags)
        {
            request.CertificateExtensions.Add(new X509KeyUsageExtension(flags, true));
        }

        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
    }
}
