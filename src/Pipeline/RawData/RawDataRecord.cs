using System.Buffers;
using System.Globalization;
using System.Text.Json;

namespace MessengerProxy.Pipeline.RawData;

/// <summary>
/// One request as the rawdata-master's <c>POST /add-performance-data</c> takes it (<c>PerformanceData</c> with its
/// <c>RawDataMessage</c>). Made on the request path from values already at hand; serialized by the sender.
/// </summary>
internal sealed record RawDataRecord(
    DateTimeOffset Start,
    long DurationMs,
    string Operation,
    int Status,
    long SizeIn,
    long SizeOut,
    TimUserAgent UserAgent)
{
    /// <summary>
    /// The JSON body. Every field is always written — the reference's serializer left out fields equal to their
    /// defaults, so a record could lack <c>UA-*</c> or <c>sizeIn</c>. <c>status</c> and <c>Res</c> are strings
    /// (<c>^\d{1,5}$</c>, the collector's type); sizes are bytes, capped at the collector's <c>Int</c>.
    /// </summary>
    public void WriteTo(IBufferWriter<byte> output, RawDataIdentity identity)
    {
        using var json = new Utf8JsonWriter(output);
        var status = Status.ToString(CultureInfo.InvariantCulture);
        json.WriteStartObject();
        json.WriteString("start", Start.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
        json.WriteNumber("durationInMs", Math.Clamp(DurationMs, 0, int.MaxValue));
        json.WriteString("operation", Operation);
        json.WriteString("status", status);
        json.WriteStartObject("message");
        json.WriteString("Inst-ID", identity.InstanceId);
        json.WriteString("M-Dom", identity.MatrixDomain);
        json.WriteString("UA-PV", UserAgent.ProductVersion);
        json.WriteString("UA-PTV", UserAgent.ProductTypeVersion);
        json.WriteString("UA-A", UserAgent.Variant);
        json.WriteString("UA-P", UserAgent.Platform);
        json.WriteString("UA-OS", UserAgent.OperatingSystem);
        json.WriteString("UA-OS-VERSION", UserAgent.OperatingSystemVersion);
        json.WriteString("UA-cid", UserAgent.ClientId);
        json.WriteString("profOID", identity.ProfessionOid);
        json.WriteString("Res", status);
        json.WriteNumber("sizeIn", Math.Clamp(SizeIn, 0, int.MaxValue));
        json.WriteNumber("sizeOut", Math.Clamp(SizeOut, 0, int.MaxValue));
        json.WriteString("tID", identity.TelematikId);
        json.WriteEndObject();
        json.WriteEndObject();
    }
}

/// <summary>The configured fields every record carries (<c>Inst-ID</c>, <c>M-Dom</c>, <c>profOID</c>, <c>tID</c>).</summary>
internal sealed record RawDataIdentity(string InstanceId, string MatrixDomain, string ProfessionOid, string TelematikId)
{
    public static RawDataIdentity From(RawDataOptions options) =>
        new(options.InstanceId, options.MatrixDomain, options.ProfessionOid, options.TelematikId);
}
