from mecha.cli import main

raise SystemExit(main())
