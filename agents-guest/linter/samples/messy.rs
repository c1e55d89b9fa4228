fn main() {
    let greeting = "hello";   
	println!("{greeting}");
  	let x = 1; // TODO: remove x
    // FIXME: this line is much longer than the limit of one hundred characters, so the linter flags it
}