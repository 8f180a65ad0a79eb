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
/// Runs a class's tests in <see cref="StepAttribute"/> order. The homeservers are shared, so the check that no
/// proxy refused anything must come after the happy paths and before the tests that provoke refusals, and
/// stopping the registration service comes last.
/// </summary>
public sealed class StepOrderer : ITestCaseOrderer
{
    public IReadOnlyCollection<TTestCase> OrderTestCases<TTestCase>(IReadOnlyCollection<TTestCase> testCases)
        where TTestCase : notnull, ITestCase =>
        testCases.OrderBy(Order).ThenBy(t => t.TestCaseDisplayName, StringComparer.Ordinal).ToList();

    private static int Order<TTestCase>(TTestCase testCase)
        where TTestCase : notnull, ITestCase =>
        testCase is IXunitTestCase xunit && xunit.TestMethod.Method.GetCustomAttributes(typeof(StepAttribute), false).FirstOrDefault() is StepAttribute step
            ? step.Order
            : int.MaxValue;
}
