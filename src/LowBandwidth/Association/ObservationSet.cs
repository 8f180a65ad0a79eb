namespace MessengerProxy.LowBandwidth.Association;

/// <summary>A live /sync observation; cancelled when it ends for any reason.</summary>
internal sealed class ObserveRegistration : IDisposable
{
    private readonly CancellationTokenSource _cancellation;

    public ObserveRegistration(CancellationToken outer) => _cancellation = CancellationTokenSource.CreateLinkedTokenSource(outer);

    public CancellationToken Token => _cancellation.Token;

    public void Cancel() => _cancellation.Cancel();

    public void Dispose() => _cancellation.Dispose();
}

/// <summary>An association's Observe registrations (RFC 7641), a few at most; a new one under a key ends the one it replaces.</summary>
internal sealed class ObservationSet
{
    private const int MaxObservations = 4;

    private readonly Dictionary<string, ObserveRegistration> _observations = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>Starts an observation under <paramref name="key"/>, ending the one it replaces (a re-registration).</summary>
    public ObserveRegistration Start(string key, CancellationToken outer)
    {
        var registration = new ObserveRegistration(outer);
        ObserveRegistration? previous;
        ObserveRegistration? evicted = null;
        lock (_gate)
        {
            _observations.Remove(key, out previous);
            if (_observations.Count >= MaxObservations)
            {
                var oldest = _observations.First();
                _observations.Remove(oldest.Key);
                evicted = oldest.Value;
            }

            _observations[key] = registration;
        }

        evicted?.Cancel();
        previous?.Cancel();
        return registration;
    }

    /// <summary>Ends the observation under <paramref name="key"/> (only <paramref name="registration"/>, when given).</summary>
    public void Stop(string key, ObserveRegistration? registration)
    {
        ObserveRegistration? removed = null;
        lock (_gate)
        {
            if (_observations.TryGetValue(key, out var current) && (registration is null || ReferenceEquals(current, registration)))
            {
                _observations.Remove(key);
                removed = current;
            }
        }

        removed?.Cancel();
        if (registration is not null && !ReferenceEquals(removed, registration))
        {
            registration.Cancel();
        }
    }

    /// <summary>Ends every observation: the association is gone.</summary>
    public void Clear()
    {
        List<ObserveRegistration> ended;
        lock (_gate)
        {
            ended = [.. _observations.Values];
            _observations.Clear();
        }

        // Cancelling runs the push loops' callbacks: outside the lock.
        foreach (var observation in ended)
        {
            observation.Cancel();
        }
    }
}
