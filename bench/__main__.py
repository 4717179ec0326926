"""python -m bench [--quick] [--kubeconfig PATH] [--repeat K] [--fleet 1,10,100] [--out PATH]"""

from bench.cli import main

raise SystemExit(main())
