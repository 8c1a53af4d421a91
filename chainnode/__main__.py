from chainnode.cli import main

raise SystemExit(main())
