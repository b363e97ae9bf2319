"""Building what serverless.yml deploys: ``python deploy/build.py`` (``make package``).

- :mod:`deploy.build`: the command line and the checks that refuse a deployment that could
  not work;
- :mod:`deploy.template`: the CloudFormation pieces serverless.yml includes (``deploy.json``);
- :mod:`deploy.package`: staging the code, the configuration and its CA files, vendoring the
  locked dependencies, and the zip;
- :mod:`deploy.lock` and :mod:`deploy.refresh_policies`: maintainers' tools for the lock file
  and the managed-policy table.

All of them read the one deployment model, :mod:`broker.deployment`.
"""
