using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace MessengerProxy.Outbound.Certificates;

/// <summary>
/// The proxy's CA: loaded once, checked to be usable (key matches, is a CA, may sign certificates, is
/// valid now), and used to mint short-lived ECDSA P-256 leaf certificates for the hosts the homeserver
/// connects to.
/// </summary>
internal sealed class CertificateAuthority : IDisposable
{
    private static readonly Oid s_serverAuth = new("1.3.6.1.5.5.7.3.1");

    private readonly X509SignatureGenerator _signer;
    private readonly AsymmetricAlgorithm _key;
    private readonly X509Extension? _authorityKeyIdentifier;

    private CertificateAuthority(X509Certificate2 certificate, AsymmetricAlgorithm key, X509SignatureGenerator signer)
    {
        Certificate = certificate;
        _key = key;
        _signer = signer;
        var subjectKeyId = certificate.Extensions.OfType<X509SubjectKeyIdentifierExtension>().FirstOrDefault();
        _authorityKeyIdentifier = subjectKeyId is null
            ? null
            : X509AuthorityKeyIdentifierExtension.CreateFromSubjectKeyIdentifier(subjectKeyId);
    }

    /// <summary>The CA certificate (public part only), sent along with every leaf.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>Loads and checks the CA; throws <see cref="InvalidOperationException"/> with the reason when it cannot be used.</summary>
    /// <param name="keyPassword">The password of an encrypted PKCS#8 key; null for a key in the clear.</param>
    public static CertificateAuthority Load(string certificatePath, string keyPath, DateTimeOffset now, string? keyPassword = null)
    {
        // Read here rather than by CreateFromPemFile, so every refusal names the file at fault.
        var certificatePem = ReadPem(certificatePath, "CA certificate");
        var keyPem = ReadPem(keyPath, "CA key");

        // The public part alone first: it is what is sent with every leaf, and a certificate that is no CA is
        // refused as such whatever its key file holds.
        X509Certificate2 certificate;
        try
        {
            certificate = X509Certificate2.CreateFromPem(certificatePem);
        }
        catch (CryptographicException ex)
        {
            throw new InvalidOperationException($"CA certificate '{certificatePath}' cannot be read: {ex.Message}", ex);
        }

        var problem = CheckIsCa(certificate, now);
        if (problem is not null)
        {
            certificate.Dispose();
            throw new InvalidOperationException($"CA certificate '{certificatePath}' {problem}");
        }

        AsymmetricAlgorithm key;
        X509SignatureGenerator signer;
        try
        {
            // The library picks the key type from the certificate and checks that the key belongs to it.
            using var withKey = keyPassword is null
                ? X509Certificate2.CreateFromPem(certificatePem, keyPem)
                : X509Certificate2.CreateFromEncryptedPem(certificatePem, keyPem, keyPassword);
            if (withKey.GetECDsaPrivateKey() is { } ec)
            {
                (key, signer) = (ec, X509SignatureGenerator.CreateForECDsa(ec));
            }
            else if (withKey.GetRSAPrivateKey() is { } rsa)
            {
                (key, signer) = (rsa, X509SignatureGenerator.CreateForRSA(rsa, RSASignaturePadding.Pkcs1));
            }
            else
            {
                throw new InvalidOperationException($"CA certificate '{certificatePath}' has a key type other than EC or RSA");
            }
        }
        catch (ArgumentException ex) when (ex.ParamName == "privateKey")
        {
            certificate.Dispose();
            throw new InvalidOperationException($"CA key '{keyPath}' does not belong to the CA certificate '{certificatePath}'", ex);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            certificate.Dispose();
            throw new InvalidOperationException($"CA key '{keyPath}' is not a PEM private key of the certificate's type: {ex.Message}", ex);
        }
        catch
        {
            certificate.Dispose();
            throw;
        }

        return new CertificateAuthority(certificate, key, signer);
    }

    private static string ReadPem(string path, string what)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"{what} '{path}' cannot be read: {ex.Message}", ex);
        }
    }

    /// <summary>Null when the certificate may issue server certificates now, otherwise why not.</summary>
    internal static string? CheckIsCa(X509Certificate2 certificate, DateTimeOffset now)
    {
        var constraints = certificate.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault();
        if (constraints is null || !constraints.CertificateAuthority)
        {
            return "is not a CA certificate (basicConstraints CA:TRUE is missing)";
        }

        if (constraints.HasPathLengthConstraint && constraints.PathLengthConstraint < 0)
        {
            return "has an invalid path length constraint";
        }

        var usage = certificate.Extensions.OfType<X509KeyUsageExtension>().FirstOrDefault();
        if (usage is not null && (usage.KeyUsages & X509KeyUsageFlags.KeyCertSign) == 0)
        {
            return "may not sign certificates (keyUsage lacks keyCertSign)";
        }

        if (now < certificate.NotBefore.ToUniversalTime() || now >= certificate.NotAfter.ToUniversalTime())
        {
            return $"is not valid now (valid {certificate.NotBefore.ToUniversalTime():u} to {certificate.NotAfter.ToUniversalTime():u})";
        }

        return null;
    }

    /// <summary>Issues a certificate for <paramref name="host"/> (a DNS name or an IP address) with a fresh P-256 key.</summary>
    public X509Certificate2 Issue(string host, DateTimeOffset now, TimeSpan validity)
    {
        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var subject = new X500DistinguishedNameBuilder();
        subject.AddCommonName(host);
        var request = new CertificateRequest(subject.Build(), leafKey, HashAlgorithmName.SHA256);

        var names = new SubjectAlternativeNameBuilder();
        if (IPAddress.TryParse(host, out var address))
        {
            names.AddIpAddress(address);
        }
        else
        {
            names.AddDnsName(host);
        }

        request.CertificateExtensions.Add(names.Build(critical: false));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([s_serverAuth], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        if (_authorityKeyIdentifier is not null)
        {
            request.CertificateExtensions.Add(_authorityKeyIdentifier);
        }

        // A little slack for clocks behind ours; never beyond the CA's own validity.
        var notBefore = now.AddMinutes(-5);
        var notAfter = now + validity;
        var caNotAfter = new DateTimeOffset(Certificate.NotAfter.ToUniversalTime());
        if (notAfter > caNotAfter)
        {
            notAfter = caNotAfter;
        }

        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using var issued = request.Create(Certificate.SubjectName, _signer, notBefore, notAfter, serial);
        return issued.CopyWithPrivateKey(leafKey);
    }

    public void Dispose()
    {
        _key.Dispose();
        Certificate.Dispose();
    }
}
