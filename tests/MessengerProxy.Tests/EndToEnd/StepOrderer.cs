using Xunit.Sdk;
using Xunit.v3;

namespace MessengerProxy.Tests.EndToEnd;

/// <summary>The position of an end-to-end test in its class: the happy paths, then their metrics check, then refusals.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class StepAttribute(int order) : Attribute
{
    public int Order { get; } = order;
}

/// <summary>
/// Runs a class's test methods in <see cref="StepAttribute"/> order. The homeservers are shared, so the check
/// that no proxy refused anything must come after the happy paths and before the tests that provoke refusals,
/// and stopping the registration service comes last.
/// </summary>
public sealed class StepOrderer : ITestMethodOrderer
{
    public IReadOnlyCollection<TTestMethod?> OrderTestMethods<TTestMethod>(IReadOnlyCollection<TTestMethod?> testMethods)
        where TTestMethod : notnull, ITestMethod =>
        testMethods.OrderBy(Order).ThenBy(m => m?.MethodName, StringComparer.Ordinal).ToList();

    private static int Order<TTestMethod>(TTestMethod? testMethod)
        where TTestMethod : notnull, ITestMethod =>
        testMethod is IXunitTestMethod xunit && xunit.Method.GetCustomAttributes(typeof(StepAttribute), false).FirstOrDefault() is StepAttribute step
            ? step.Order
            : int.MaxValue;
}
