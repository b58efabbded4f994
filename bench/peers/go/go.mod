module hivebench

go 1.19
