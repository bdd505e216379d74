"""The emulated cluster: one network namespace and cgroup per device, on one Linux machine.

``netns`` builds the bridge, namespaces and veth pairs, ``cgroups`` the CPU and memory
budgets of each device class, and ``cluster`` starts an agent inside each device and tears it
all down again.  Needs root; see docs/emulation.md.
"""
